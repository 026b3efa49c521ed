//! The one door through which text porthole did not write reaches a
//! terminal.
//!
//! Process names (`prctl(PR_SET_NAME)`), command lines, executable and Unix
//! socket paths, unit and container names, user names, proxy names and
//! server banners are chosen by other users. Printed raw to root's terminal,
//! an ESC in them can clear the screen, redraw a confirmation table with
//! other pids, or set the clipboard (OSC 52, which may end with ESC-backslash
//! instead of BEL). Every renderer passes such text through [`sanitize`]
//! before it is written, and [`super::table::Table`] passes every cell
//! through [`sanitize_styled`] as a second line of defence.
//!
//! What is escaped, and how it is shown:
//! - C0 controls and DEL: `\n`, `\r`, `\t`, else `\x1b`-style (`\x07`, `\x7f`);
//! - C1 controls (U+0080–U+009F, which some terminals read as CSI/OSC):
//!   `\u009b`;
//! - bidi overrides, embeddings, isolates and marks (U+202A–U+202E,
//!   U+2066–U+2069, U+200E, U+200F, U+061C), which reorder what follows
//!   them, and the line and paragraph separators U+2028/U+2029: `\u202e`.
//!
//! Everything else, including every printable non-ASCII character, stays as
//! it is so names in any script remain readable.
//!
//! JSON keeps other users' text exact, but `--json` is read on terminals
//! too: serialisation escapes C0 controls itself, and [`write_json`] /
//! [`write_json_pretty`] also write DEL, C1 and bidi controls as `\u009b`,
//! `\u202e` — the same string for any JSON parser, inert on a terminal.
//!
//! Widths: [`display_width`] counts terminal columns (`unicode-width`: wide
//! CJK characters take two, combining marks none) and skips porthole's own
//! colour sequences, so tables line up with escaped and non-ASCII text.

use std::borrow::Cow;
use std::fmt;

use unicode_width::UnicodeWidthChar;

/// Whether `ch` must never reach a terminal raw (the set lives with the
/// shell quoting, which must keep exactly these out of a printed command).
/// A byte that is not UTF-8 (kept by [`crate::model::os_text`]) is shown
/// as `\xNN` too.
fn is_dangerous(ch: char) -> bool {
    crate::shell::is_terminal_control(ch) || crate::model::os_text::byte_of(ch).is_some()
}

/// Appends the visible form of a dangerous character.
fn push_escaped(out: &mut String, ch: char) {
    use std::fmt::Write as _;
    if let Some(byte) = crate::model::os_text::byte_of(ch) {
        let _ = write!(out, "\\x{byte:02x}");
        return;
    }
    match ch {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if u32::from(c) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c => {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        }
    }
}

/// Text another user wrote, made safe for a terminal: control characters,
/// DEL, C1 controls and bidi controls are shown escaped (`\x1b`, `\u202e`);
/// all other text, non-ASCII included, is unchanged. Borrows when nothing
/// needs escaping (the common case).
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        if is_dangerous(ch) {
            push_escaped(&mut escaped, ch);
        } else {
            escaped.push(ch);
        }
    }
    Cow::Owned(escaped)
}

/// A shell command line porthole composed, made safe for a terminal like
/// [`sanitize`], but still runnable as printed: a single-quoted word that
/// holds a character which must be escaped is written again with
/// [`crate::shell::printable_word`] (`"$(printf 'ux\033[31m')"`), the
/// quoting engines use when they build a line, so it reads back as the same
/// characters in bash and in `sh`. Shown through [`sanitize`] alone,
/// `'ux<ESC>'` would read `'ux\x1b'`, a word that names something else.
/// Text outside single quotes is sanitised as usual ([`crate::shell::word`]
/// quotes every value that is not plain, so a dangerous character only
/// appears inside them).
pub fn shell_line(line: &str) -> Cow<'_, str> {
    if !line.chars().any(is_dangerous) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    let mut outside = String::new();
    let mut chars = line.chars();
    while let Some(ch) = chars.next() {
        match ch {
            // A backslash outside quotes escapes the next character (the
            // `'\''` that puts a quote inside a quoted word).
            '\\' => {
                outside.push(ch);
                outside.extend(chars.next());
            }
            '\'' => {
                out.push_str(&sanitize(&outside));
                outside.clear();
                let mut word = String::new();
                let mut closed = false;
                for quoted in chars.by_ref() {
                    if quoted == '\'' {
                        closed = true;
                        break;
                    }
                    word.push(quoted);
                }
                if closed && word.chars().any(is_dangerous) {
                    out.push_str(&crate::shell::printable_word(&word));
                } else {
                    out.push('\'');
                    out.push_str(&sanitize(&word));
                    if closed {
                        out.push('\'');
                    }
                }
            }
            _ => outside.push(ch),
        }
    }
    out.push_str(&sanitize(&outside));
    Cow::Owned(out)
}

/// The longest run of non-blank characters an error or warning line shows
/// whole; see [`elide_long_words`].
const LONGEST_WORD: usize = 256;

/// `text` with every run of non-blank characters longer than 256
/// characters cut to its first 120 and last 20, the middle replaced by
/// `…[N characters]…`. Error lines quote what was typed, and a 100,000
/// character argument would otherwise make one 200 KB line; a
/// shorter word, whatever it holds, is shown whole.
pub fn elide_long_words(text: &str) -> Cow<'_, str> {
    use std::fmt::Write as _;
    let too_long = |word: &str| word.chars().nth(LONGEST_WORD).is_some();
    if !text.split_whitespace().any(too_long) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(LONGEST_WORD * 4);
    let mut rest = text;
    while !rest.is_empty() {
        // Blanks are copied as they are; each word is judged on its own.
        let blank = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        out.push_str(&rest[..blank]);
        rest = &rest[blank..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        if too_long(word) {
            let count = word.chars().count();
            let head: String = word.chars().take(120).collect();
            let tail: String = word.chars().skip(count - 20).collect();
            let _ = write!(out, "{head}…[{} characters]…{tail}", count - 140);
        } else {
            out.push_str(word);
        }
        rest = &rest[end..];
    }
    Cow::Owned(out)
}

/// Displays another user's text through [`sanitize`] without an
/// intermediate string: `format!("{}", Foreign(&process.name))`.
#[derive(Debug, Clone, Copy)]
pub struct Foreign<'a>(pub &'a str);

impl fmt::Display for Foreign<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&sanitize(self.0))
    }
}

/// The colour sequences porthole itself writes (see [`super::Style`]);
/// nothing else starting with ESC survives [`sanitize_styled`].
const OWN_SEQUENCES: [&str; 6] =
    ["\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m"];

/// The length of porthole's own colour sequence at the start of `text`.
fn own_sequence_len(text: &str) -> Option<usize> {
    OWN_SEQUENCES.iter().find(|s| text.starts_with(*s)).map(|s| s.len())
}

/// Like [`sanitize`], but keeps porthole's own colour sequences: for text
/// porthole composed, possibly coloured, which may still quote other
/// users' text. A foreign ESC that does not begin one of those exact
/// sequences is escaped.
pub fn sanitize_styled(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_dangerous) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        if ch == '\x1b' {
            if let Some(length) = own_sequence_len(rest) {
                escaped.push_str(&rest[..length]);
                rest = &rest[length..];
                continue;
            }
        }
        if is_dangerous(ch) {
            push_escaped(&mut escaped, ch);
        } else {
            escaped.push(ch);
        }
        rest = &rest[ch.len_utf8()..];
    }
    Cow::Owned(escaped)
}

/// Terminal columns `text` takes, not counting porthole's own colour
/// sequences. Meant for sanitised text; a stray control character counts
/// as zero columns.
pub fn display_width(text: &str) -> usize {
    if text.is_ascii() && !text.contains('\x1b') {
        return text.len();
    }
    let mut width = 0;
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        if let Some(length) = own_sequence_len(rest) {
            rest = &rest[length..];
            continue;
        }
        width += ch.width().unwrap_or(0);
        rest = &rest[ch.len_utf8()..];
    }
    width
}

/// Cuts `text` to at most `width` columns, ending with `…` when it was cut.
/// Coloured text (short labels) is never cut inside a colour sequence: it is
/// returned whole. An escape [`sanitize`] wrote (`\x1b`, `\u202e`, `\n`)
/// is kept whole or left out whole: a cut inside it (`\x1…`) would show a
/// different character, or a backslash that reads as part of the name.
pub fn truncate_to_width(text: &str, width: usize) -> String {
    if text.contains('\x1b') || display_width(text) <= width {
        return text.to_string();
    }
    let budget = width.saturating_sub(1);
    let mut used = 0;
    let mut cut = String::with_capacity(width + 3);
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        // Escapes are ASCII, one column a byte.
        let length = escape_len(rest).unwrap_or(ch.len_utf8());
        let columns = if length > ch.len_utf8() { length } else { ch.width().unwrap_or(0) };
        if used + columns > budget {
            break;
        }
        used += columns;
        cut.push_str(&rest[..length]);
        rest = &rest[length..];
    }
    cut.push('…');
    cut
}

/// The length of the escape [`push_escaped`] writes that `text` starts with
/// (`\x1b`, `\u202e`, `\n`, `\r`, `\t`), if it starts with one.
fn escape_len(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let hex = |range: std::ops::Range<usize>| {
        bytes.get(range).is_some_and(|digits| digits.iter().all(u8::is_ascii_hexdigit))
    };
    match bytes {
        [b'\\', b'x', ..] if hex(2..4) => Some(4),
        [b'\\', b'u', ..] if hex(2..6) => Some(6),
        [b'\\', b'n' | b'r' | b't', ..] => Some(2),
        _ => None,
    }
}

/// Wraps a JSON formatter so DEL, C1 and bidi controls inside strings are
/// written as `\uXXXX` escapes (JSON's own C0 escaping stays as it is).
struct TerminalSafeJson<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for TerminalSafeJson<F> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (index, ch) in fragment.char_indices().filter(|(_, ch)| is_dangerous(*ch)) {
            self.0.write_string_fragment(writer, &fragment[start..index])?;
            if crate::model::os_text::byte_of(ch).is_some() {
                // A byte that is not UTF-8: JSON strings are text, so the
                // replacement character (the exact bytes go in a
                // `*_bytes` field beside the string).
                self.0.write_string_fragment(writer, "\u{fffd}")?;
            } else {
                // Every other escaped character is in the BMP: one \u
                // escape.
                write!(writer, "\\u{:04x}", u32::from(ch))?;
            }
            start = index + ch.len_utf8();
        }
        self.0.write_string_fragment(writer, &fragment[start..])
    }

    // Layout: delegated, so pretty output keeps its indentation.
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Writes `value` as compact JSON (one line, no newline), terminal-safe.
pub fn write_json<W: ?Sized + std::io::Write>(
    out: &mut W,
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    let formatter = TerminalSafeJson(serde_json::ser::CompactFormatter);
    value.serialize(&mut serde_json::Serializer::with_formatter(out, formatter))?;
    Ok(())
}

/// Writes `value` as indented JSON (no trailing newline), terminal-safe.
pub fn write_json_pretty<W: ?Sized + std::io::Write>(
    out: &mut W,
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    let formatter = TerminalSafeJson(serde_json::ser::PrettyFormatter::new());
    value.serialize(&mut serde_json::Serializer::with_formatter(out, formatter))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_lines_stay_runnable_and_safe() {
        assert_eq!(shell_line("porthole check 80 --netns demo"), "porthole check 80 --netns demo");
        let name = "ux\x1b[31mred\u{202e}\\x\n!";
        let line = format!("porthole check 80 --netns {}", crate::shell::word(name));
        let shown = shell_line(&line);
        assert_eq!(
            shown,
            r#"porthole check 80 --netns "$(printf 'ux\033[31mred\342\200\256\\x\012!')""#
        );
        assert!(!shown.chars().any(is_dangerous), "{shown}");
        // The same word an engine writes with `printable_word` directly.
        assert_eq!(
            shown,
            format!("porthole check 80 --netns {}", crate::shell::printable_word(name))
        );
        // Quoted words without such characters, and the '\'' idiom, stay.
        let plain = format!("echo {} {}", crate::shell::word("it's"), crate::shell::word("a b"));
        assert_eq!(shell_line(&format!("{plain}\u{1b}")), format!("{plain}\\x1b"));
    }

    /// The line as shown runs in bash and in `sh` (dash) and hands the
    /// program the original characters.
    #[test]
    fn shell_lines_read_back_in_bash_and_dash() {
        for value in [
            "ux\x1b[31mred\u{202e}",
            "tab\there",
            "it's\u{7}",
            "back\\slash\r",
            "\u{85}c1",
            "-n\x1b",
            "$(id)`id`\nx",
        ] {
            let shown =
                shell_line(&format!("printf %s {}", crate::shell::word(value))).into_owned();
            assert!(!shown.chars().any(is_dangerous), "{shown}");
            for shell in ["bash", "dash"] {
                let output = std::process::Command::new(shell)
                    .arg("-c")
                    .arg(&shown)
                    .output()
                    .expect("the shell runs");
                assert_eq!(String::from_utf8_lossy(&output.stdout), value, "{shell}: {shown}");
            }
        }
    }

    #[test]
    fn long_words_are_cut_in_the_middle_and_counted() {
        assert_eq!(elide_long_words("short words stay"), "short words stay");
        let word = format!("'{}'", "9".repeat(300));
        let message = format!("porthole: --port {word} is too long");
        let cut = elide_long_words(&message);
        assert_eq!(
            cut,
            format!(
                "porthole: --port '{}…[162 characters]…{}' is too long",
                "9".repeat(119),
                "9".repeat(19)
            )
        );
        // Exactly the limit is kept whole; blanks are kept as they are.
        let limit = "x".repeat(LONGEST_WORD);
        assert_eq!(elide_long_words(&format!("a\n {limit}\tb")), format!("a\n {limit}\tb"));
        // Characters, not bytes, are counted.
        let wide = "é".repeat(300);
        assert!(elide_long_words(&wide).contains("…[160 characters]…"));
    }

    #[test]
    fn escapes_every_terminal_control() {
        // OSC 52 ended with ESC-backslash, a screen clear, a bidi override.
        let hostile = "a\x1b]52;c;SGVsbG8=\x1b\\b\x1b[2J\u{202e}c\u{9b}d\x7f\x07\n\t\r";
        let safe = sanitize(hostile);
        assert_eq!(safe, "a\\x1b]52;c;SGVsbG8=\\x1b\\b\\x1b[2J\\u202ec\\u009bd\\x7f\\x07\\n\\t\\r");
        assert!(!safe.chars().any(is_dangerous));
        for ch in ['\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}', '\u{2028}'] {
            assert!(!sanitize(&ch.to_string()).chars().any(is_dangerous), "{ch:?}");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_as_bytes() {
        let read = crate::model::os_text::from_bytes(b"ev\xff\x1bil\xc3");
        assert_eq!(sanitize(&read), "ev\\xff\\x1bil\\xc3");
        assert_eq!(
            sanitize_styled(&format!("\x1b[1m{read}\x1b[0m")),
            "\x1b[1mev\\xff\\x1bil\\xc3\x1b[0m"
        );
        let mut json = Vec::new();
        write_json(&mut json, &read).unwrap();
        assert_eq!(String::from_utf8(json).unwrap(), "\"ev\u{fffd}\\u001bil\u{fffd}\"");
    }

    #[test]
    fn readable_text_is_borrowed_unchanged() {
        for text in
            ["postgres", "nginx: worker", "café", "日本語サーバ", "naïve\u{301}", "/tmp/ü.sock"]
        {
            assert!(matches!(sanitize(text), Cow::Borrowed(_)), "{text}");
        }
        assert_eq!(Foreign("x\x1by").to_string(), "x\\x1by");
    }

    #[test]
    fn json_escapes_c1_and_bidi_and_stays_exact() {
        let text = "a\u{9b}[2J\u{202e}b\x1b]52\x07\x7fé日";
        let value = serde_json::json!({ "name": text, "list": [text] });
        for pretty in [false, true] {
            let mut out = Vec::new();
            if pretty {
                write_json_pretty(&mut out, &value).unwrap();
            } else {
                write_json(&mut out, &value).unwrap();
            }
            let written = String::from_utf8(out).unwrap();
            assert!(!written.chars().any(|c| is_dangerous(c) && c != '\n'), "{written:?}");
            assert!(written.contains("a\\u009b[2J\\u202eb\\u001b]52\\u0007\\u007fé日"));
            let back: serde_json::Value = serde_json::from_str(&written).unwrap();
            assert_eq!(back, value);
            assert_eq!(written.contains('\n'), pretty);
        }
    }

    #[test]
    fn keeps_only_porthole_colour() {
        assert_eq!(sanitize_styled("\x1b[33mexposed\x1b[0m"), "\x1b[33mexposed\x1b[0m");
        // A foreign colour code or cursor movement is escaped, even if it
        // looks like one of ours except for the number.
        assert_eq!(sanitize_styled("\x1b[35mx\x1b[H"), "\\x1b[35mx\\x1b[H");
        assert_eq!(sanitize_styled("\x1b[3"), "\\x1b[3");
    }

    #[test]
    fn tables_align_wide_and_escaped_cells() {
        let mut table = super::super::table::Table::new(&["NAME", "PID"]);
        table.row().cell("日本語").cell(1);
        table.row().cell(sanitize("a\x1bb")).cell(2);
        table.row().cell("plain").cell(3);
        let mut out = Vec::new();
        table.write(&mut out, None, "").unwrap();
        let text = String::from_utf8(out).unwrap();
        // Every PID starts in the same terminal column.
        let columns: Vec<usize> = text
            .lines()
            .map(|line| {
                let cut = line.rfind(' ').unwrap() + 1;
                display_width(&line[..cut])
            })
            .collect();
        assert_eq!(columns, [8, 8, 8, 8], "{text}");
        assert!(text.contains("a\\x1bb"), "{text}");
    }

    #[test]
    fn widths_count_columns_of_the_escaped_form() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("日本"), 4);
        assert_eq!(display_width("e\u{301}"), 1);
        assert_eq!(display_width("\x1b[1mab\x1b[0m"), 2);
        assert_eq!(display_width(&sanitize("\x1b")), 4);
        assert_eq!(truncate_to_width("日本語テキスト", 7), "日本語…");
        assert_eq!(truncate_to_width("short", 10), "short");
        assert_eq!(truncate_to_width("0123456789", 5), "0123…");
    }

    #[test]
    fn a_cut_never_splits_an_escape() {
        let shown = sanitize("\x1b[2J\u{202e}ev\n!").into_owned();
        assert_eq!(shown, "\\x1b[2J\\u202eev\\n!");
        let cuts: Vec<String> = (1..shown.len()).map(|w| truncate_to_width(&shown, w)).collect();
        for cut in &cuts {
            let kept = cut.strip_suffix('…').expect("cut");
            assert!(shown.starts_with(kept), "{cut}");
            // What is kept ends at an escape's end, never inside one.
            let whole = ["", "\\x1b", "\\x1b[", "\\x1b[2", "\\x1b[2J", "\\x1b[2J\\u202e"];
            let after = ["", "e", "ev", "ev\\n"].map(|tail| format!("\\x1b[2J\\u202e{tail}"));
            assert!(
                whole.contains(&kept) || after.iter().any(|a| a == kept),
                "{cut} ends inside an escape"
            );
        }
        assert_eq!(truncate_to_width(&shown, 4), "…");
        assert_eq!(truncate_to_width(&shown, 5), "\\x1b…");
        assert_eq!(truncate_to_width(&shown, 12), "\\x1b[2J…");
        assert_eq!(truncate_to_width(&shown, 14), "\\x1b[2J\\u202e…");
    }
}
