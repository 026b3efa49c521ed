//! Quoting for the fix lines porthole prints as commands: a value that came
//! from the machine or the user (an account name, a path) is made one shell
//! word, so the line runs as printed in a POSIX shell whatever the value
//! holds. Plain values stay as they are, so the common line reads naturally.
//!
//! A line is also shown on a terminal, where a control character in a
//! quoted word would act (an ESC clears the screen) and an escaped one
//! (`\x1b`, as [`crate::render::sanitize`] shows it) would name something
//! else. [`printable_word`] is the one quoting that is both visible and
//! exact: engines use it when they build a line, and the renderer's
//! `shell_line` uses it for a quoted word that reaches it with such a
//! character in it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `value` as one POSIX shell word: unchanged when it has only characters
/// no shell treats specially, otherwise in single quotes (a single quote
/// inside becomes `'\''`).
pub fn word(value: &str) -> Cow<'_, str> {
    let plain = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "_-.,:/@%+=".contains(c));
    if plain {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!("'{}'", value.replace('\'', r"'\''")))
    }
}

/// `value` in single quotes even when it is plain: for a script argument
/// (SQL, JavaScript) that reads best as one visibly quoted unit.
pub fn word_always(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Whether `c` must never reach a terminal raw: C0 controls, DEL, C1
/// controls, and the bidi and line-separator characters that reorder what
/// follows them. The terminal sanitiser escapes exactly these.
pub fn is_terminal_control(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{061c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}')
}

/// `value` as one shell word that holds no terminal control character and
/// reads back as exactly `value`: [`word`] when `value` has no such
/// character, else a `printf` format in a command substitution with each
/// control character as octal escapes (`"$(printf 'ph-\033[31m')"`), which
/// bash and `sh` (dash) both read. See [`printable_word_bytes`].
pub fn printable_word(value: &str) -> Cow<'_, str> {
    // Bytes that are not UTF-8 (see `crate::model::os_text`) are written
    // as the bytes they are.
    if crate::model::os_text::has_raw_bytes(value) {
        Cow::Owned(printable_word_bytes(&crate::model::os_text::to_bytes(value)))
    } else if value.chars().any(is_terminal_control) {
        Cow::Owned(printable_word_bytes(value.as_bytes()))
    } else {
        word(value)
    }
}

/// `--option VALUE` for a printed command line, the value as a
/// [`printable_word`]. A value that begins with `-` is joined with `=`
/// (`--netns=-dev`): written apart, the parser would take it for an
/// option and the line would not run as printed.
pub fn option_with_value(option: &str, value: &str) -> String {
    let separator = if value.starts_with('-') { '=' } else { ' ' };
    format!("{option}{separator}{}", printable_word(value))
}

/// [`printable_word`] for a value that may not be UTF-8 (a file name): a
/// byte that is not part of a UTF-8 character is written as an octal
/// escape too, so the printed line is text and the word reads back as the
/// original bytes.
///
/// # Platform specific behavior
///
/// Command substitution drops trailing newlines, and POSIX sh before
/// POSIX.1-2024 has no other way to write a newline without one on the
/// line. A value that ends in a newline is therefore written ANSI-C quoted
/// (`$'name\n'`): bash, zsh, ksh and busybox sh read it back exactly;
/// dash 0.5.12 reads it as other characters, so the command fails there
/// rather than reaching the named thing. A leading `-` is written `\055`,
/// so `printf` never takes the format for an option.
pub fn printable_word_bytes(value: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(value) {
        if !text.chars().any(is_terminal_control) {
            return word(text).into_owned();
        }
    }
    if value.ends_with(b"\n") {
        return ansi_c_word(value);
    }
    let mut format = String::with_capacity(value.len() + 16);
    let octal = |format: &mut String, bytes: &[u8]| {
        for byte in bytes {
            let _ = write!(format, "\\{byte:03o}");
        }
    };
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => format.push_str("\\\\"),
                '%' => format.push_str("%%"),
                '\'' => format.push_str(r"'\''"),
                '-' if format.is_empty() => format.push_str("\\055"),
                c if is_terminal_control(c) => {
                    octal(&mut format, c.encode_utf8(&mut [0u8; 4]).as_bytes())
                }
                c => format.push(c),
            }
        }
        octal(&mut format, chunk.invalid());
    }
    format!("\"$(printf '{format}')\"")
}

/// `$'…'` with every control and non-UTF-8 byte as `\xHH`: bytes rather
/// than `\u` escapes, which depend on the reader's locale.
fn ansi_c_word(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() + 16);
    out.push_str("$'");
    let hex = |out: &mut String, bytes: &[u8]| {
        for byte in bytes {
            let _ = write!(out, "\\x{byte:02x}");
        }
    };
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if is_terminal_control(c) => {
                    hex(&mut out, c.encode_utf8(&mut [0u8; 4]).as_bytes())
                }
                c => out.push(c),
            }
        }
        hex(&mut out, chunk.invalid());
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_option_value_that_looks_like_an_option_is_joined_with_equals() {
        assert_eq!(option_with_value("--netns", "demo"), "--netns demo");
        assert_eq!(option_with_value("--netns", "a b"), "--netns 'a b'");
        assert_eq!(option_with_value("--netns", "-dev"), "--netns=-dev");
        assert_eq!(option_with_value("--netns", "--"), "--netns=--");
        assert_eq!(option_with_value("--netns", "-a b"), "--netns='-a b'");
    }

    #[test]
    fn plain_values_stay_and_others_become_one_word() {
        assert_eq!(word("postgres"), "postgres");
        assert_eq!(word("app.user@example"), "app.user@example");
        assert_eq!(word(""), "''");
        assert_eq!(word("two words"), "'two words'");
        assert_eq!(word("it's"), r"'it'\''s'");
        assert_eq!(word("$(reboot)"), "'$(reboot)'");
    }

    /// What `shell` (`bash` or `dash`) hands `printf %s` for `word`.
    fn through(shell: &str, word: &str) -> Vec<u8> {
        let output = std::process::Command::new(shell)
            .env("LC_ALL", "C.UTF-8")
            .arg("-c")
            .arg(format!("printf %s {word}"))
            .output()
            .unwrap_or_else(|e| panic!("{shell} runs: {e}"));
        assert!(output.status.success(), "{shell} -c 'printf %s {word}': {output:?}");
        output.stdout
    }

    /// Words other users choose (namespace names, socket paths), each one
    /// hostile to a shell, a terminal or `printf` in its own way.
    const HOSTILE: &[&str] = &[
        "two words",
        "it's",
        "a\"b",
        "$(id)",
        "`id`",
        "${HOME}",
        "back\\slash",
        "*",
        "~root",
        "100%s%%",
        "-n",
        "--help",
        "new\nline",
        "esc\x1b[31mred",
        "esc\x1b7digit",
        "tab\there",
        "bidi\u{202e}x",
        "c1\u{9b}2J",
        "bell\x07",
        "-esc\x1b",
        "it's 100%\\\x07",
        "café\x1b日本",
        "'\n'",
    ];

    #[test]
    fn plain_quoted_words_read_back_in_bash_and_dash() {
        for value in HOSTILE.iter().filter(|v| !v.chars().any(is_terminal_control)) {
            for shell in ["bash", "dash"] {
                assert_eq!(through(shell, &word(value)), value.as_bytes(), "{shell}: {value:?}");
            }
        }
    }

    #[test]
    fn printable_words_show_no_control_and_read_back_in_bash_and_dash() {
        for value in HOSTILE {
            let printed = printable_word(value);
            assert!(!printed.chars().any(is_terminal_control), "{value:?} as {printed:?}");
            for shell in ["bash", "dash"] {
                assert_eq!(through(shell, &printed), value.as_bytes(), "{shell}: {printed}");
            }
        }
        assert_eq!(printable_word("demo"), "demo");
        assert_eq!(printable_word("sp ace;$(id)"), "'sp ace;$(id)'");
        assert_eq!(printable_word("ph-\x1b[31m"), r#""$(printf 'ph-\033[31m')""#);
        assert_eq!(printable_word("-\x07"), r#""$(printf '\055\007')""#);
    }

    #[test]
    fn bytes_that_are_not_utf8_read_back_exactly() {
        for value in [&b"caf\xe9"[..], b"\xff\xfe-x", b"-\x80", b"a\x1b\xc3", b"ok\xc3\xa9"] {
            let printed = printable_word_bytes(value);
            assert!(!printed.chars().any(is_terminal_control), "{printed:?}");
            for shell in ["bash", "dash"] {
                assert_eq!(through(shell, &printed), value, "{shell}: {printed}");
            }
        }
        assert_eq!(printable_word_bytes(b"ok\xc3\xa9"), "'ok\u{e9}'");
        // Text read from the system keeps such bytes (model::os_text): a
        // word made of it writes the bytes, not the characters that keep
        // them.
        let read = crate::model::os_text::from_bytes(b"/srv/d\xff/x");
        let printed = printable_word(&read);
        assert_eq!(printed, r#""$(printf '/srv/d\377/x')""#);
        assert_eq!(through("dash", &printed), b"/srv/d\xff/x");
    }

    /// A trailing newline is the one value POSIX sh cannot take on one
    /// line: it is ANSI-C quoted, which bash reads exactly.
    #[test]
    fn a_trailing_newline_is_ansi_c_quoted_for_bash() {
        for value in ["name\n", "esc\x1b\n\n", "it's\\\n"] {
            let printed = printable_word(value);
            assert!(printed.starts_with("$'"), "{printed}");
            assert!(!printed.chars().any(is_terminal_control), "{printed:?}");
            assert_eq!(through("bash", &printed), value.as_bytes(), "{printed}");
        }
        let printed = printable_word_bytes(b"\xff\n");
        assert_eq!(printed, r"$'\xff\x0a'");
        assert_eq!(through("bash", &printed), b"\xff\n");
    }
}
