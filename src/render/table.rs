//! Aligned text tables. Cells may carry ANSI colour; widths are computed on
//! the visible text so colour never breaks alignment.

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
    /// While measuring a streamed table: rows update the widths and are
    /// dropped instead of stored.
    measuring: bool,
}

/// Separates cells inside a stored row; never part of rendered text.
const CELL_SEPARATOR: char = '\u{1f}';

impl Table {
    pub fn new(header: &[&str]) -> Self {
        let mut table = Table {
            columns: header.len(),
            widths: vec![0; header.len()],
            rows: Vec::new(),
            measuring: false,
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
        Row { table: self, text: String::with_capacity(96), index: 0 }
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
        let mut table = Table::new(header);
        table.measuring = true;
        for item in items {
            fill(item, &mut table.row());
        }
        table.measuring = false;
        let mut line = String::new();
        let header_row = table.rows.pop().unwrap_or_default();
        table.write_row(out, &header_row, max_width, indent, &mut line)?;
        for item in items {
            fill(item, &mut table.row());
            if let Some(row) = table.rows.pop() {
                table.write_row(out, &row, max_width, indent, &mut line)?;
            }
        }
        Ok(())
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
                    Some(width) if used + visible_len(cell) > width && width > used + 1 => {
                        line.push_str(&truncate_visible(cell, width - used));
                    }
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
    text: String,
    index: usize,
}

impl Row<'_> {
    /// Appends the next cell.
    pub fn cell(&mut self, value: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write as _;
        if self.index >= self.table.columns {
            return self;
        }
        if self.index > 0 {
            self.text.push(CELL_SEPARATOR);
        }
        let start = self.text.len();
        let _ = write!(self.text, "{value}");
        if let std::borrow::Cow::Owned(escaped) = printable(&self.text[start..]) {
            self.text.truncate(start);
            self.text.push_str(&escaped);
        }
        let width = visible_len(&self.text[start..]);
        let column = &mut self.table.widths[self.index];
        *column = (*column).max(width);
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
        if !self.table.measuring {
            self.table.rows.push(std::mem::take(&mut self.text));
        }
    }
}

/// Escapes control characters (newlines in command lines, NULs in abstract
/// socket names) so one record stays on one line; ANSI colour is kept.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.bytes().any(|b| (b < 0x20 && b != 0x1b) || b == 0x7f || b == 0xc2) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '\x1b' => escaped.push(ch),
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() => escaped.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// Length of the text without ANSI escape sequences, in characters.
pub fn visible_len(text: &str) -> usize {
    if !text.as_bytes().contains(&0x1b) {
        return if text.is_ascii() { text.len() } else { text.chars().count() };
    }
    let mut length = 0;
    let mut in_escape = false;
    for ch in text.chars() {
        if in_escape {
            if ch == 'm' {
                in_escape = false;
            }
        } else if ch == '\x1b' {
            in_escape = true;
        } else {
            length += 1;
        }
    }
    length
}

fn truncate_visible(text: &str, width: usize) -> String {
    if text.contains('\x1b') {
        // Coloured cells are short labels; never cut inside an escape.
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
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
}
