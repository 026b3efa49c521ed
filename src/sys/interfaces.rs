//! Network interface names to indexes, for IPv6 zone ids (`fe80::1%eth0`):
//! a link-local address means nothing without the interface it is on, and
//! the kernel takes that interface as `sin6_scope_id`.

use std::ffi::CString;

/// The index of interface `name` in the calling thread's network
/// namespace, or `None` when there is no such interface.
pub fn index_of(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the
    // call; if_nametoindex only reads it and returns 0 when it fails.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_has_an_index() {
        assert!(super::index_of("lo").is_some_and(|index| index > 0));
        assert_eq!(super::index_of("no-such-interface0"), None);
        assert_eq!(super::index_of("nul\0byte"), None);
    }
}
