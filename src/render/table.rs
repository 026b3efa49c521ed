//! Aligned text tables. Cells may carry porthole's ANSI colour; widths are
//! computed on the visible text (in terminal columns) so colour and wide
//! characters never break alignment. Every cell goes through
//! [`super::sanitize::sanitize_styled`], so a cell can carry no control
//! character but porthole's own colour.

use std::io::Write;

/// A table of rows with a header; the last column may be truncated to fit
/// the terminal.
///
/// Rows are kept as one string each, cells separated by a unit separator,
/// and column widths are updated as rows arrive: 60k sockets cost one small
/// allocation per row instead of one per cell.
#[derive(Debug, Default)]
pub struct Table {
    columns: usize,
    widths: Vec<usize>,
    rows: Vec<String>,
    mode: Mode,
    /// The row being built, reused from row to row.
    current: String,
    /// While streaming: the terminal width to cut the last column at, and
    /// the indent each line starts with.
    stream_width: Option<usize>,
    stream_indent: String,
    /// What a last column wider than the terminal does.
    overflow: Overflow,
}

/// What happens to a last column that does not fit the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Cut with `…`: one line per row (socket listings).
    #[default]
    Truncate,
    /// Continue on the next lines, broken between words and aligned under
    /// the column: nothing is lost (command lines, evidence and fixes).
    Wrap,
}

/// What a finished row is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Mode {
    /// Kept in `rows` until [`Table::write`].
    #[default]
    Store,
    /// Only measured (first pass of [`Table::stream`]); cells with a known
    /// width are not even formatted.
    Measure,
    /// Left in `current` for [`Table::stream`] to write at once.
    Stream,
}

/// Separates cells inside a stored row; never part of rendered text.
const CELL_SEPARATOR: char = '\u{1f}';

impl Table {
    pub fn new(header: &[&str]) -> Self {
        let mut table = Table {
            columns: header.len(),
            widths: vec![0; header.len()],
            rows: Vec::new(),
            mode: Mode::Store,
            current: String::new(),
            stream_width: None,
            stream_indent: String::new(),
            overflow: Overflow::Truncate,
        };
        table.push(header.iter().map(|h| h.to_string()).collect());
        table
    }

    pub fn push(&mut self, row: Vec<String>) {
        let mut builder = self.row();
        for cell in &row {
            builder.cell(cell);
        }
    }

    /// Starts a row; cells are formatted straight into the row's storage
    /// (no string per cell), and the row is added when the builder drops.
    pub fn row(&mut self) -> Row<'_> {
        self.current.clear();
        if self.mode == Mode::Stream {
            self.current.push_str(&self.stream_indent);
        }
        Row { table: self, index: 0, used: 0 }
    }

    /// Whether the table holds no rows besides the header.
    pub fn is_empty(&self) -> bool {
        self.rows.len() <= 1
    }

    /// Writes the table; with `max_width`, the last column is cut with `…`
    /// so lines do not wrap (long command lines).
    pub fn write(
        &self,
        out: &mut dyn Write,
        max_width: Option<usize>,
        indent: &str,
    ) -> std::io::Result<()> {
        let mut line = String::new();
        for row in &self.rows {
            self.write_row(out, row, max_width, indent, &mut line)?;
        }
        Ok(())
    }

    /// Writes the table; with `max_width`, a last column that does not fit
    /// continues on the following lines, broken between words and aligned
    /// under its column, so nothing is cut.
    pub fn write_wrapped(
        &mut self,
        out: &mut dyn Write,
        max_width: Option<usize>,
        indent: &str,
    ) -> std::io::Result<()> {
        self.overflow = Overflow::Wrap;
        self.write(out, max_width, indent)
    }

    /// Writes a table of many rows in two passes over `items` without
    /// keeping them: the first pass formats every row only to measure the
    /// columns, the second formats it again and writes it. At 60k sockets
    /// this keeps peak memory at one row instead of all of them.
    pub fn stream<T>(
        header: &[&str],
        items: &[T],
        fill: impl Fn(&T, &mut Row<'_>),
        out: &mut dyn Write,
        max_width: Option<usize>,
        indent: &str,
    ) -> std::io::Result<()> {
        Self::stream_with(header, items, fill, out, max_width, indent, Overflow::Truncate)
    }

    /// [`Table::stream`], with a last column that wraps instead of being
    /// cut (see [`Overflow::Wrap`]).
    pub fn stream_wrapped<T>(
        header: &[&str],
        items: &[T],
        fill: impl Fn(&T, &mut Row<'_>),
        out: &mut dyn Write,
        max_width: Option<usize>,
        indent: &str,
    ) -> std::io::Result<()> {
        Self::stream_with(header, items, fill, out, max_width, indent, Overflow::Wrap)
    }

    fn stream_with<T>(
        header: &[&str],
        items: &[T],
        fill: impl Fn(&T, &mut Row<'_>),
        out: &mut dyn Write,
        max_width: Option<usize>,
        indent: &str,
        overflow: Overflow,
    ) -> std::io::Result<()> {
        let mut table = Self::start_stream(header, items, &fill, out, max_width, indent, overflow)?;
        for item in items {
            table.stream_row(out, |row| fill(item, row))?;
        }
        Ok(())
    }

    /// Starts a table written row by row as its rows arrive: the columns
    /// are as wide as `sample` needs (a first batch of them), and the
    /// header is written. Feed the rows, the sample's too, to
    /// [`Table::stream_row`]; a later cell wider than its column widens
    /// only its own line (the last column is still cut at `max_width`).
    pub fn start_stream<T>(
        header: &[&str],
        sample: &[T],
        fill: impl Fn(&T, &mut Row<'_>),
        out: &mut dyn Write,
        max_width: Option<usize>,
        indent: &str,
        overflow: Overflow,
    ) -> std::io::Result<Table> {
        let mut table = Table::new(header);
        table.overflow = overflow;
        table.mode = Mode::Measure;
        for item in sample {
            fill(item, &mut table.row());
        }
        let mut line = String::new();
        let header_row = table.rows.pop().unwrap_or_default();
        table.write_row(out, &header_row, max_width, indent, &mut line)?;
        // The widths are final, so each cell is padded (or the last one
        // cut) as it is formatted and the line is written at once.
        table.mode = Mode::Stream;
        table.stream_width = max_width;
        table.stream_indent = indent.to_string();
        Ok(table)
    }

    /// Writes one row of a table begun with [`Table::start_stream`].
    pub fn stream_row(
        &mut self,
        out: &mut dyn Write,
        fill: impl FnOnce(&mut Row<'_>),
    ) -> std::io::Result<()> {
        fill(&mut self.row());
        writeln!(out, "{}", self.current.trim_end())
    }

    fn write_row(
        &self,
        out: &mut dyn Write,
        row: &str,
        max_width: Option<usize>,
        indent: &str,
        line: &mut String,
    ) -> std::io::Result<()> {
        line.clear();
        line.push_str(indent);
        let mut used = indent.len();
        for (index, cell) in row.split(CELL_SEPARATOR).enumerate() {
            if index + 1 == self.columns {
                match max_width {
                    Some(width) if used + visible_len(cell) > width => match self.overflow {
                        Overflow::Truncate if width > used + 1 => {
                            line.push_str(&truncate_visible(cell, width - used))
                        }
                        Overflow::Truncate => line.push_str(cell),
                        Overflow::Wrap => {
                            let wrapped = wrap_visible(cell, width, used);
                            match wrapped.strip_prefix('\n') {
                                // A row with nothing else: the text is its
                                // only line, no blank line above it.
                                Some(below) if line.trim().is_empty() => {
                                    line.clear();
                                    line.push_str(below);
                                }
                                // Below the row: no padding left behind.
                                Some(_) => {
                                    line.truncate(line.trim_end().len());
                                    line.push_str(&wrapped);
                                }
                                None => line.push_str(&wrapped),
                            }
                        }
                    },
                    _ => line.push_str(cell),
                }
            } else {
                line.push_str(cell);
                let pad = self.widths[index] - visible_len(cell) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
                used += self.widths[index] + 2;
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

/// A row being built; see [`Table::row`].
pub struct Row<'a> {
    table: &'a mut Table,
    index: usize,
    /// While streaming: visible width of the line so far, after the indent.
    used: usize,
}

impl Row<'_> {
    /// Appends the next cell.
    pub fn cell(&mut self, value: impl std::fmt::Display) -> &mut Self {
        self.cell_sized(value, None)
    }

    /// Appends the next cell whose visible width the caller already knows
    /// (e.g. from the length of an address): while a streamed table is
    /// measured, such a cell is not formatted at all.
    pub fn cell_sized(&mut self, value: impl std::fmt::Display, width: Option<usize>) -> &mut Self {
        use std::fmt::Write as _;
        if self.index >= self.table.columns {
            return self;
        }
        let table = &mut *self.table;
        if table.mode == Mode::Measure {
            if let Some(width) = width {
                table.widths[self.index] = table.widths[self.index].max(width);
                self.index += 1;
                return self;
            }
            table.current.clear();
        } else if table.mode == Mode::Store && self.index > 0 {
            table.current.push(CELL_SEPARATOR);
        }
        let start = table.current.len();
        let _ = write!(table.current, "{value}");
        if let std::borrow::Cow::Owned(escaped) = printable(&table.current[start..]) {
            table.current.truncate(start);
            table.current.push_str(&escaped);
        }
        let measured = visible_len(&table.current[start..]);
        if table.mode == Mode::Stream {
            let last = self.index + 1 == table.columns;
            let indent = table.stream_indent.len();
            if last {
                if let Some(limit) = table.stream_width {
                    let used = indent + self.used;
                    let fits_a_cut = limit > used + 1;
                    let wrap = table.overflow == Overflow::Wrap;
                    if used + measured > limit && (wrap || fits_a_cut) {
                        let fitted = if wrap {
                            wrap_visible(&table.current[start..], limit, used)
                        } else {
                            truncate_visible(&table.current[start..], limit - used)
                        };
                        let before = table.current[..start].trim_end().len();
                        match fitted.strip_prefix('\n') {
                            // Nothing else on the row: no blank line.
                            Some(below) if before == 0 => {
                                table.current.clear();
                                table.current.push_str(below);
                            }
                            // Below the row: no padding left behind.
                            Some(_) => {
                                table.current.truncate(before);
                                table.current.push_str(&fitted);
                            }
                            None => {
                                table.current.truncate(start);
                                table.current.push_str(&fitted);
                            }
                        }
                    }
                }
            } else {
                let width = table.widths[self.index];
                table.current.extend(std::iter::repeat_n(' ', width - measured.min(width) + 2));
                self.used += width + 2;
            }
        } else {
            table.widths[self.index] = table.widths[self.index].max(measured);
        }
        self.index += 1;
        self
    }
}

impl Drop for Row<'_> {
    fn drop(&mut self) {
        // Short rows are padded so every row has every column.
        while self.index < self.table.columns {
            self.cell("");
        }
        if self.table.mode == Mode::Store {
            // A copy has exactly the row's length; `current` keeps its
            // capacity for the next row.
            let row = self.table.current.clone();
            self.table.rows.push(row);
        }
    }
}

/// Escapes control characters (newlines in command lines, NULs in abstract
/// socket names, escape sequences in other users' text) so one record stays
/// on one line and nothing but porthole's own colour reaches the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    super::sanitize::sanitize_styled(text)
}

/// Terminal columns of the text without porthole's colour sequences.
pub fn visible_len(text: &str) -> usize {
    super::sanitize::display_width(text)
}

/// Cuts a last column to `width`. A `PID/NAME` cell keeps at least its
/// `PID/` even on a terminal too narrow for it (the line is then a little
/// wider): a cut that leaves `2…` hides which process holds the socket.
fn truncate_visible(text: &str, width: usize) -> String {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && text.as_bytes().get(digits) == Some(&b'/') && width < digits + 2 {
        return format!("{}…", &text[..=digits]);
    }
    super::sanitize::truncate_to_width(text, width)
}

/// The narrowest a wrapped column gets: when the columns before it leave
/// less room than this, the text goes below the row instead, indented by
/// [`HANG`], rather than turn into a column of single words.
const MIN_WRAP: usize = 24;

/// Indent of text placed below its row (see [`MIN_WRAP`]).
const HANG: usize = 6;

/// Breaks `text` into lines of at most `width - start` visible characters,
/// between words, each continuation line indented by `start` spaces so it
/// sits under its column. When that leaves less than [`MIN_WRAP`], the
/// text starts on the next line, indented by [`HANG`], and uses the whole
/// width. A word longer than a line gets a line of its own and is never
/// split (a path or URL stays one piece to copy). A cell that is coloured
/// as a whole keeps its colour on every line.
fn wrap_visible(text: &str, width: usize, start: usize) -> String {
    if width.saturating_sub(start) < MIN_WRAP {
        let room = width.saturating_sub(HANG).max(MIN_WRAP);
        return format!("\n{}{}", " ".repeat(HANG), wrap_lines(text, room, HANG));
    }
    wrap_lines(text, width - start, start)
}

/// A paragraph broken between words to fit `width` (a terminal), its
/// continuation lines indented by `indent` spaces; unchanged without a
/// width.
pub fn wrap_paragraph(text: &str, width: Option<usize>, indent: usize) -> String {
    match width {
        Some(width) if visible_len(text) > width => {
            wrap_lines(text, width.saturating_sub(indent).max(MIN_WRAP), indent)
        }
        _ => text.to_string(),
    }
}

/// Lines of at most `room` visible characters; every line after the first
/// is indented by `indent` spaces.
fn wrap_lines(text: &str, room: usize, indent: usize) -> String {
    let start = indent;
    let (open, inner, close) = split_paint(text);
    if inner.contains('\x1b') {
        // Colour inside the text: leave it whole rather than break a code.
        return text.to_string();
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut line_width = 0;
    for word in inner.split(' ').filter(|w| !w.is_empty()) {
        let word_width = visible_len(word);
        if line_width > 0 && line_width + 1 + word_width > room {
            lines.push(std::mem::take(&mut line));
            line_width = 0;
        }
        if line_width > 0 {
            line.push(' ');
            line_width += 1;
        }
        line.push_str(word);
        line_width += word_width;
    }
    lines.push(line);
    let separator = format!("{close}\n{}{open}", " ".repeat(start));
    format!("{open}{}{close}", lines.join(&separator))
}

/// Splits `\x1b[…m TEXT \x1b[0m` into its opening code, text and reset;
/// uncoloured text comes back with empty codes.
fn split_paint(text: &str) -> (&str, &str, &str) {
    if let Some(rest) = text.strip_prefix("\x1b[") {
        if let (Some(end), Some(inner_end)) = (rest.find('m'), text.strip_suffix("\x1b[0m")) {
            let open_len = 2 + end + 1;
            if open_len <= inner_end.len() {
                return (&text[..open_len], &inner_end[open_len..], "\x1b[0m");
            }
        }
    }
    ("", text, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_table_matches_stored_table() {
        let items = [("a", "1"), ("bbbb", "22"), ("cc", "333333")];
        let mut stored = Table::new(&["K", "VALUE"]);
        for (key, value) in items {
            stored.row().cell(key).cell(value);
        }
        let mut expected = Vec::new();
        stored.write(&mut expected, None, "  ").unwrap();
        let mut streamed = Vec::new();
        Table::stream(
            &["K", "VALUE"],
            &items,
            |(key, value), row| {
                row.cell(key).cell(value);
            },
            &mut streamed,
            None,
            "  ",
        )
        .unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), String::from_utf8(expected).unwrap());
    }

    #[test]
    fn a_cut_process_column_keeps_its_pid_and_whole_escapes() {
        let items = [("tcp", "26066/\x1b[2J\u{202e}ev")];
        let cut = |width| {
            let mut out = Vec::new();
            Table::stream(
                &["PROTO", "PID/PROCESS"],
                &items,
                |(protocol, owner), row| {
                    row.cell(protocol).cell(owner);
                },
                &mut out,
                Some(width),
                "",
            )
            .unwrap();
            String::from_utf8(out).unwrap().lines().nth(1).unwrap().to_string()
        };
        // "tcp    " leaves 8 columns at width 15: never "2…".
        assert_eq!(cut(9), "tcp    26066/…");
        assert_eq!(cut(15), "tcp    26066/…");
        assert_eq!(cut(17), "tcp    26066/…");
        assert_eq!(cut(18), "tcp    26066/\\x1b…");
        assert_eq!(cut(23), "tcp    26066/\\x1b[2J…");
        assert_eq!(cut(27), "tcp    26066/\\x1b[2J\\u202e…");
    }

    #[test]
    fn aligns_and_truncates() {
        let mut table = Table::new(&["A", "LONG"]);
        table.push(vec!["xyz".into(), "0123456789".into()]);
        table.push(vec!["\x1b[31mr\x1b[0m".into(), "b".into()]);
        let mut out = Vec::new();
        table.write(&mut out, Some(10), "").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "A    LONG\nxyz  0123…\n\x1b[31mr\x1b[0m    b\n");
        assert_eq!(visible_len("\x1b[1mab\x1b[0m"), 2);
        assert_eq!(printable("a\nb\x00"), "a\\nb\\x00");
        assert_eq!(printable("plain"), "plain");
    }

    #[test]
    fn wraps_between_words_under_the_column() {
        let mut table = Table::new(&["A", "TEXT"]);
        table.push(vec!["x".into(), "one two three four five six seven eight nine ten".into()]);
        table.push(vec!["yy".into(), "short".into()]);
        let mut out = Vec::new();
        table.write_wrapped(&mut out, Some(30), "  ").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "  A   TEXT\n  x   one two three four five\n      six seven eight nine ten\n  yy  short\n"
        );
        for line in text.lines() {
            assert!(line.len() <= 30, "{line:?}");
        }
    }

    #[test]
    fn wrapping_keeps_long_words_and_colour_whole() {
        let path = "/a/very/long/path/that/does/not/fit/anywhere/at/all/in/the/room";
        let wrapped = wrap_visible(&format!("see {path} now"), 30, 4);
        assert_eq!(wrapped, format!("see\n    {path}\n    now"));
        let painted = wrap_visible("\x1b[2mfix: one two three four five six seven\x1b[0m", 30, 4);
        assert_eq!(
            painted,
            "\x1b[2mfix: one two three four\x1b[0m\n    \x1b[2mfive six seven\x1b[0m"
        );
        assert_eq!(split_paint("plain"), ("", "plain", ""));
        assert_eq!(wrap_paragraph("aaa bbb", None, 2), "aaa bbb");
        let paragraph = "word ".repeat(12);
        assert_eq!(
            wrap_paragraph(paragraph.trim_end(), Some(30), 2),
            "word word word word word\n  word word word word word\n  word word"
        );
    }

    #[test]
    fn text_goes_below_the_row_when_its_column_has_no_room() {
        let mut table = Table::new(&["WIDE", "TEXT"]);
        table.push(vec!["w".repeat(30), "one two three four five six seven eight".into()]);
        table.push(vec![String::new(), "fix: nine ten".into()]);
        let mut out = Vec::new();
        table.write_wrapped(&mut out, Some(40), "").unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = format!(
            "WIDE{}TEXT\n{}\n      one two three four five six seven\n      eight\n      fix: nine ten\n",
            " ".repeat(28),
            "w".repeat(30)
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn streamed_rows_wrap_like_stored_rows() {
        let items = [("a", "alpha beta gamma delta epsilon zeta eta theta iota kappa")];
        let mut stored = Table::new(&["K", "VALUE"]);
        for (key, value) in items {
            stored.row().cell(key).cell(value);
        }
        let mut expected = Vec::new();
        stored.write_wrapped(&mut expected, Some(30), "").unwrap();
        let mut streamed = Vec::new();
        Table::stream_wrapped(
            &["K", "VALUE"],
            &items,
            |(key, value), row| {
                row.cell(key).cell(value);
            },
            &mut streamed,
            Some(30),
            "",
        )
        .unwrap();
        assert_eq!(String::from_utf8(streamed).unwrap(), String::from_utf8(expected).unwrap());
    }
}
