//! What a path holds when it is not the regular file porthole expected (a
//! store, a token file), in the words error lines use.

use std::os::unix::fs::FileTypeExt;

/// `None` for a regular file; otherwise what it is: "a directory", "a named
/// pipe", "a socket", "a device" or "a special file".
pub fn not_a_regular_file(file_type: std::fs::FileType) -> Option<&'static str> {
    Some(if file_type.is_file() {
        return None;
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a named pipe"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "a special file"
    })
}
