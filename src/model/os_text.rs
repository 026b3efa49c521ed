//! Text the kernel hands over as bytes: process names, command lines,
//! executable paths and Unix socket paths. Linux does not require them to be
//! UTF-8, and other users choose them, so a name may hold bytes that are not
//! part of any character (`prctl(PR_SET_NAME, "ev\xff")`).
//!
//! The model keeps such text as a `String` without losing a byte: each byte
//! that is not part of a UTF-8 character is stored as one code point of a
//! reserved block, U+10FF80–U+10FFFF for bytes 0x80–0xFF (a byte below 0x80
//! is always a character). A character that is itself in that block (they
//! are private-use code points) is stored as the bytes of its UTF-8 form, so
//! [`to_bytes`] always gives back exactly the bytes that were read.
//!
//! Nothing outside this module needs to know the block: the terminal
//! sanitiser shows each such byte as `\xNN` ([`byte_of`]), a printed shell
//! command writes the original byte ([`to_bytes`]), and JSON writes U+FFFD in
//! the string and the exact bytes, base64, beside it ([`exact_bytes`]).

use std::borrow::Cow;

/// The code point that stands for byte 0x00; bytes 0x80–0xFF map to
/// `BYTE_BASE + byte`.
const BYTE_BASE: u32 = 0x10_FF00;

/// The code point that stands for `byte` (0x80–0xFF).
fn char_of(byte: u8) -> char {
    char::from_u32(BYTE_BASE + u32::from(byte)).expect("U+10FF80..U+10FFFF are scalar values")
}

/// The byte `ch` stands for, when it is one of the reserved code points.
pub fn byte_of(ch: char) -> Option<u8> {
    let code = u32::from(ch);
    (BYTE_BASE + 0x80..=BYTE_BASE + 0xFF).contains(&code).then(|| (code - BYTE_BASE) as u8)
}

/// Whether `text` holds a byte that is not UTF-8.
pub fn has_raw_bytes(text: &str) -> bool {
    text.chars().any(|ch| byte_of(ch).is_some())
}

/// `bytes` as text: valid UTF-8 unchanged, every other byte kept as its
/// reserved code point.
pub fn from_bytes(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if !has_raw_bytes(text) {
            return text.to_string();
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if byte_of(ch).is_some() {
                // A real character of the reserved block: its own bytes.
                for &byte in ch.encode_utf8(&mut [0u8; 4]).as_bytes() {
                    out.push(char_of(byte));
                }
            } else {
                out.push(ch);
            }
        }
        // Only bytes of 0x80 and above can be invalid.
        out.extend(chunk.invalid().iter().map(|&byte| char_of(byte)));
    }
    out
}

/// `bytes` (each 0x80 or above) as the reserved code points that stand for
/// them, even where they would form a character: a store that must spell a
/// character differently writes it so, and [`to_bytes`] then [`from_bytes`]
/// turn it back into the character.
pub fn as_raw_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|&byte| if byte < 0x80 { char::from(byte) } else { char_of(byte) }).collect()
}

/// An OS string (a path, a link target) as text, as [`from_bytes`].
pub fn from_os_str(text: &std::ffi::OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    from_bytes(text.as_bytes())
}

/// The exact bytes `text` was read from.
pub fn to_bytes(text: &str) -> Cow<'_, [u8]> {
    if !has_raw_bytes(text) {
        return Cow::Borrowed(text.as_bytes());
    }
    let mut out = Vec::with_capacity(text.len());
    for ch in text.chars() {
        match byte_of(ch) {
            Some(byte) => out.push(byte),
            None => out.extend_from_slice(ch.encode_utf8(&mut [0u8; 4]).as_bytes()),
        }
    }
    Cow::Owned(out)
}

/// For JSON: the exact bytes of `text`, base64 (standard alphabet, padded),
/// when it is not valid UTF-8; `None` when the string says it all.
pub fn exact_bytes(text: &str) -> Option<String> {
    use base64::Engine as _;
    has_raw_bytes(text).then(|| base64::engine::general_purpose::STANDARD.encode(to_bytes(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_byte_and_leaves_utf8_alone() {
        for bytes in [
            &b"python3"[..],
            "caf\u{e9} \u{1f600}".as_bytes(),
            b"ev\xffil",
            b"\xc3",
            b"\xc3\x28\x80\xfe\xff",
            // A real U+10FF9B (private use), stored as its four bytes.
            b"x\xf4\x8f\xbe\x9by",
            b"",
        ] {
            let text = from_bytes(bytes);
            assert_eq!(&*to_bytes(&text), bytes, "{bytes:?} as {text:?}");
        }
        assert_eq!(from_bytes(b"plain"), "plain");
        assert!(!has_raw_bytes("caf\u{e9}"));
        let text = from_bytes(b"ev\xffil");
        assert_eq!(text.chars().filter_map(byte_of).collect::<Vec<_>>(), vec![0xff]);
        assert_eq!(exact_bytes(&text).as_deref(), Some("ZXb/aWw="));
        assert_eq!(exact_bytes("plain"), None);
    }
}
