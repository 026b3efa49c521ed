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
        table.mode = Mode::Measure;
        for item in items {
            fill(item, &mut table.row());
        }
        let mut line = String::new();
        let header_row = table.rows.pop().unwrap_or_default();
        table.write_row(out, &header_row, max_width, indent, &mut line)?;
        // Second pass: the widths are final, so each cell is padded (or the
        // last one cut) as it is formatted and the line is written at once.
        table.mode = Mode::Stream;
        table.stream_width = max_width;
        table.stream_indent = indent.to_string();
        for item in items {
            fill(item, &mut table.row());
            writeln!(out, "{}", table.current.trim_end())?;
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
                    if used + measured > limit && limit > used + 1 {
                        let cut = truncate_visible(&table.current[start..], limit - used);
                        table.current.truncate(start);
                        table.current.push_str(&cut);
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

fn truncate_visible(text: &str, width: usize) -> String {
    super::sanitize::truncate_to_width(text, width)
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
