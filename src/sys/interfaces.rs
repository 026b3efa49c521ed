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

/// The name of interface `index` in the calling thread's network
/// namespace, as the kernel's bytes (a name need not be UTF-8), or `None`
/// when no interface has that index (any more).
pub fn name_of(index: u32) -> Option<Vec<u8>> {
    let mut buffer = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buffer` holds IF_NAMESIZE bytes, the most if_indextoname
    // writes (the name and its NUL); it returns NULL when it fails and
    // otherwise a pointer into `buffer`, which outlives the CStr read.
    let name = unsafe { libc::if_indextoname(index, buffer.as_mut_ptr()) };
    if name.is_null() {
        return None;
    }
    // SAFETY: on success `name` points at the NUL-terminated name written
    // into `buffer`.
    let name = unsafe { std::ffi::CStr::from_ptr(name) };
    Some(name.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_has_an_index() {
        assert!(super::index_of("lo").is_some_and(|index| index > 0));
        assert_eq!(super::index_of("no-such-interface0"), None);
        assert_eq!(super::index_of("nul\0byte"), None);
        let index = super::index_of("lo").expect("lo has an index");
        assert_eq!(super::name_of(index).as_deref(), Some(&b"lo"[..]));
        assert_eq!(super::name_of(u32::MAX), None);
    }
}
