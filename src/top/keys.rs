//! Decoding what a terminal sends for the keys the live view of
//! `porthole top` reads: printable characters (UTF-8), Enter, Backspace,
//! Esc, Ctrl-letter, and the cursor keys in both of xterm's modes.
//!
//! The view reads the terminal itself (`commands/top.rs`) rather than through
//! crossterm's event reader, whose edge-triggered poll loses input: a key
//! arriving with a resize, or whatever followed the first 1,024 bytes of a
//! paste, was read only once another key came.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const ESC: u8 = 0x1b;

/// Decodes the keys at the start of `input`. Returns them and how many
/// bytes they took. With `more` (more bytes may be on their way), a
/// sequence cut at the end of `input` is left for the next call; without
/// it, a lone ESC is the Esc key and a cut sequence its readable part.
pub fn decode(input: &[u8], more: bool) -> (Vec<KeyEvent>, usize) {
    let mut keys = Vec::new();
    let mut at = 0;
    while at < input.len() {
        match next_key(&input[at..], more) {
            Step::Key(key, used) => {
                keys.extend(key);
                at += used;
            }
            Step::Incomplete => break,
        }
    }
    (keys, at)
}

enum Step {
    /// A key (or nothing, for a sequence no key of the view uses) and the
    /// bytes it took.
    Key(Option<KeyEvent>, usize),
    /// More bytes are needed to tell.
    Incomplete,
}

fn key(code: KeyCode) -> Option<KeyEvent> {
    Some(KeyEvent::new(code, KeyModifiers::NONE))
}

fn next_key(input: &[u8], more: bool) -> Step {
    let first = input[0];
    match first {
        ESC => escape(input, more),
        b'\r' | b'\n' => Step::Key(key(KeyCode::Enter), 1),
        b'\t' => Step::Key(key(KeyCode::Tab), 1),
        0x7f | 0x08 => Step::Key(key(KeyCode::Backspace), 1),
        0x01..=0x1a => {
            let letter = char::from(first - 1 + b'a');
            Step::Key(Some(KeyEvent::new(KeyCode::Char(letter), KeyModifiers::CONTROL)), 1)
        }
        0x00..=0x1f => Step::Key(None, 1),
        _ => character(input, more),
    }
}

/// One UTF-8 character; a byte that starts none is skipped.
fn character(input: &[u8], more: bool) -> Step {
    let length = match input[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Step::Key(None, 1),
    };
    if input.len() < length {
        return if more { Step::Incomplete } else { Step::Key(None, input.len()) };
    }
    match std::str::from_utf8(&input[..length]).ok().and_then(|text| text.chars().next()) {
        Some(character) => Step::Key(key(KeyCode::Char(character)), length),
        None => Step::Key(None, 1),
    }
}

/// ESC alone or before another key, `ESC [ … final` (CSI), or `ESC O x`
/// (SS3).
fn escape(input: &[u8], more: bool) -> Step {
    let Some(&second) = input.get(1) else {
        return if more { Step::Incomplete } else { Step::Key(key(KeyCode::Esc), 1) };
    };
    match second {
        b'[' => {
            // Parameters and intermediates (0x20–0x3f), then one final
            // byte (0x40–0x7e).
            let Some(end) = input[2..].iter().position(|b| !(0x20..=0x3f).contains(b)) else {
                return if more { Step::Incomplete } else { Step::Key(None, input.len()) };
            };
            let final_byte = input[2 + end];
            let parameters = &input[2..2 + end];
            let used = 2 + end + 1;
            if !(0x40..=0x7e).contains(&final_byte) {
                // Not a sequence after all: drop what was read of it.
                return Step::Key(None, 2 + end);
            }
            Step::Key(csi(parameters, final_byte), used)
        }
        b'O' => match input.get(2) {
            None if more => Step::Incomplete,
            None => Step::Key(None, 2),
            Some(&final_byte) => Step::Key(csi(b"", final_byte), 3),
        },
        // Esc, then another key typed at once: the view has no Alt
        // bindings, so `Esc /` read together is still Esc and `/` (as Alt-/
        // it started a filter instead of leaving one).
        _ => Step::Key(key(KeyCode::Esc), 1),
    }
}

/// The key of a cursor-key sequence; `None` for one the view has no use for.
fn csi(parameters: &[u8], final_byte: u8) -> Option<KeyEvent> {
    let code = match final_byte {
        b'A' => KeyCode::Up,
        b'B' => KeyCode::Down,
        b'C' => KeyCode::Right,
        b'D' => KeyCode::Left,
        b'H' => KeyCode::Home,
        b'F' => KeyCode::End,
        b'~' => match parameters.split(|b| *b == b';').next().unwrap_or(b"") {
            b"1" | b"7" => KeyCode::Home,
            b"4" | b"8" => KeyCode::End,
            b"3" => KeyCode::Delete,
            b"5" => KeyCode::PageUp,
            b"6" => KeyCode::PageDown,
            _ => return None,
        },
        _ => return None,
    };
    key(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(input: &[u8], more: bool) -> (Vec<(KeyCode, KeyModifiers)>, usize) {
        let (keys, used) = decode(input, more);
        (keys.into_iter().map(|key| (key.code, key.modifiers)).collect(), used)
    }

    fn plain(code: KeyCode) -> (KeyCode, KeyModifiers) {
        (code, KeyModifiers::NONE)
    }

    #[test]
    fn a_burst_of_keys_is_every_key_in_order() {
        let (keys, used) = codes(b"c\x1b[Aq/\xc3\xa9\x7f\r\x03", true);
        assert_eq!(
            keys,
            vec![
                plain(KeyCode::Char('c')),
                plain(KeyCode::Up),
                plain(KeyCode::Char('q')),
                plain(KeyCode::Char('/')),
                plain(KeyCode::Char('é')),
                plain(KeyCode::Backspace),
                plain(KeyCode::Enter),
                (KeyCode::Char('c'), KeyModifiers::CONTROL),
            ]
        );
        assert_eq!(used, 11);
    }

    #[test]
    fn cursor_keys_in_both_modes() {
        let input = b"\x1bOB\x1b[B\x1b[H\x1bOF\x1b[1~\x1b[4~\x1b[5~\x1b[1;5A";
        let (keys, used) = codes(input, false);
        assert_eq!(
            keys,
            vec![
                plain(KeyCode::Down),
                plain(KeyCode::Down),
                plain(KeyCode::Home),
                plain(KeyCode::End),
                plain(KeyCode::Home),
                plain(KeyCode::End),
                plain(KeyCode::PageUp),
                plain(KeyCode::Up),
            ]
        );
        assert_eq!(used, input.len());
    }

    #[test]
    fn a_cut_sequence_waits_for_the_rest_unless_nothing_follows() {
        // ESC alone: the start of a sequence, or the Esc key.
        assert_eq!(codes(b"q\x1b", true), (vec![plain(KeyCode::Char('q'))], 1));
        assert_eq!(codes(b"\x1b", false), (vec![plain(KeyCode::Esc)], 1));
        assert_eq!(codes(b"\x1b[1", true), (vec![], 0));
        assert_eq!(codes(b"\x1b[1", false), (vec![], 3));
        // Half a UTF-8 character.
        assert_eq!(codes(b"\xc3", true), (vec![], 0));
        assert_eq!(codes(b"\xc3", false), (vec![], 1));
        // Esc pressed twice, then `/`, all read at once.
        assert_eq!(
            codes(b"\x1b\x1b/", false).0,
            vec![plain(KeyCode::Esc), plain(KeyCode::Esc), plain(KeyCode::Char('/'))]
        );
    }

    #[test]
    fn bytes_that_are_no_key_are_skipped() {
        // A stray continuation byte, an unknown sequence, NUL.
        let (keys, used) = codes(b"\x80\x1b[200~a\x00\x1b[Zb", false);
        assert_eq!(keys, vec![plain(KeyCode::Char('a')), plain(KeyCode::Char('b'))]);
        assert_eq!(used, 13);
    }
}
