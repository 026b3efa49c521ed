//! A process's file-backed memory mappings, asked of the kernel one at a
//! time with the `PROCMAP_QUERY` ioctl on `/proc/PID/maps` instead of
//! reading its text: the owner scan looks for sockets held only by a
//! mapping, and a JVM-like process with tens of thousands of anonymous
//! mappings would otherwise have every one of them formatted as a line.
//!
//! # Platform specific behavior
//! `PROCMAP_QUERY` exists since Linux 6.11; before that the ioctl fails
//! with `ENOTTY` and [`file_mappings`] says so, so that the caller reads
//! the text instead. Opening `/proc/PID/maps` checks the same access as
//! reading it (another user's process needs root).
//!
//! See: <https://docs.kernel.org/filesystems/proc.html> and
//! `include/uapi/linux/fs.h` (`struct procmap_query`).

use std::os::fd::AsRawFd;

/// `struct procmap_query` from `<linux/fs.h>` (104 bytes).
#[repr(C)]
#[derive(Default)]
struct ProcmapQuery {
    size: u64,
    query_flags: u64,
    query_addr: u64,
    vma_start: u64,
    vma_end: u64,
    vma_flags: u64,
    vma_page_size: u64,
    vma_offset: u64,
    inode: u64,
    dev_major: u32,
    dev_minor: u32,
    vma_name_size: u32,
    build_id_size: u32,
    vma_name_addr: u64,
    build_id_addr: u64,
}

/// `PROCMAP_QUERY_COVERING_OR_NEXT_VMA`: the mapping at the address, or
/// the next one after it.
const COVERING_OR_NEXT_VMA: u64 = 0x10;
/// `PROCMAP_QUERY_FILE_BACKED_VMA`: skip anonymous mappings (in the kernel).
const FILE_BACKED_VMA: u64 = 0x20;
/// `_IOWR('f', 17, struct procmap_query)`.
const PROCMAP_QUERY: u64 =
    (3 << 30) | ((size_of::<ProcmapQuery>() as u64) << 16) | (0x66 << 8) | 17;

/// Why the mappings could not be listed.
#[derive(Debug)]
pub enum MappingsError {
    /// The kernel has no `PROCMAP_QUERY` (before 6.11): read the text.
    Unsupported,
    /// Anything else (the process exited, no permission).
    Io(std::io::Error),
}

/// Calls `each(major, minor, inode)` for every file-backed mapping of the
/// process whose `/proc/PID/maps` is open as `maps`, in address order,
/// until it returns `false`.
pub fn file_mappings(
    maps: &std::fs::File,
    mut each: impl FnMut(u32, u32, u64) -> bool,
) -> Result<(), MappingsError> {
    let mut address = 0u64;
    loop {
        let mut query = ProcmapQuery {
            size: size_of::<ProcmapQuery>() as u64,
            query_flags: COVERING_OR_NEXT_VMA | FILE_BACKED_VMA,
            query_addr: address,
            ..ProcmapQuery::default()
        };
        // SAFETY: PROCMAP_QUERY reads and writes one `struct procmap_query`
        // whose size is in its `size` field; `query` is that struct, alive
        // and exclusively borrowed for the call. No name or build-id buffer
        // is given (their sizes are 0), so the kernel writes nothing else.
        let result = unsafe {
            libc::ioctl(maps.as_raw_fd(), PROCMAP_QUERY as _, &mut query as *mut ProcmapQuery)
        };
        if result < 0 {
            let error = std::io::Error::last_os_error();
            return match error.raw_os_error() {
                // No mapping at or after the address: the end.
                Some(libc::ENOENT) => Ok(()),
                Some(libc::ENOTTY) | Some(libc::EINVAL) if address == 0 => {
                    Err(MappingsError::Unsupported)
                }
                _ => Err(MappingsError::Io(error)),
            };
        }
        if !each(query.dev_major, query.dev_minor, query.inode) {
            return Ok(());
        }
        if query.vma_end <= address {
            // Never loop on a kernel that does not move forward.
            return Ok(());
        }
        address = query.vma_end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_the_kernels_size_and_number() {
        assert_eq!(size_of::<ProcmapQuery>(), 104);
        assert_eq!(PROCMAP_QUERY, 0xC068_6611);
    }

    #[test]
    fn lists_a_file_this_process_maps() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(4096).unwrap();
        let inode = {
            use std::os::unix::fs::MetadataExt;
            file.metadata().unwrap().ino()
        };
        // SAFETY: a fresh shared read-only mapping of our own file, unmapped
        // below; nothing reads through the pointer.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(address, libc::MAP_FAILED);
        let maps = std::fs::File::open("/proc/self/maps").unwrap();
        let mut seen = false;
        match file_mappings(&maps, |_, _, found| {
            seen |= found == inode;
            !seen
        }) {
            Ok(()) => assert!(seen, "the mapping of inode {inode} is listed"),
            Err(MappingsError::Unsupported) => {}
            Err(MappingsError::Io(error)) => panic!("{error}"),
        }
        // SAFETY: the mapping made above, of that length.
        unsafe { libc::munmap(address, 4096) };
    }
}
