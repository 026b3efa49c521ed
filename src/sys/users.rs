//! uid → user name through the C library, so NSS sources (LDAP, systemd's
//! dynamic users) are honoured the same way `ls -l` and `ps` honour them.

use std::ffi::CStr;

/// The user name of `uid`, or `None` when no database knows it.
pub fn name_of(uid: u32) -> Option<String> {
    let mut record = std::mem::MaybeUninit::<libc::passwd>::zeroed();
    let mut buffer = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, writable memory of the stated
    // size; getpwuid_r writes only inside `record` and `buffer` and sets
    // `result` to `record` or null.
    let code = unsafe {
        libc::getpwuid_r(uid, record.as_mut_ptr(), buffer.as_mut_ptr(), buffer.len(), &mut result)
    };
    if code != 0 || result.is_null() {
        return None;
    }
    // SAFETY: on success `result` points to the initialised `record`, whose
    // `pw_name` is a NUL-terminated string inside `buffer`, still alive here.
    let name = unsafe { CStr::from_ptr((*result).pw_name) };
    Some(name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_is_named() {
        assert_eq!(super::name_of(0).as_deref(), Some("root"));
        assert_eq!(super::name_of(4_000_000_000), None);
    }
}
