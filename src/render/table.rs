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
}

/// Separates cells inside a stored row; never part of rendered text.
const CELL_SEPARATOR: char = '\u{1f}';

impl Table {
    pub fn new(header: &[&str]) -> Self {
        let mut table =
            Table { columns: header.len(), widths: vec![0; header.len()], rows: Vec::new() };
        table.push(header.iter().map(|h| h.to_string()).collect());
        table
    }

    pub fn push(&mut self, row: Vec<String>) {
        let mut joined = String::with_capacity(row.iter().map(|c| c.len() + 1).sum());
        for (index, cell) in row.iter().enumerate().take(self.columns) {
            if index > 0 {
                joined.push(CELL_SEPARATOR);
            }
            let cell = printable(cell);
            self.widths[index] = self.widths[index].max(visible_len(&cell));
            joined.push_str(&cell);
        }
        self.rows.push(joined);
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
            line.clear();
            line.push_str(indent);
            let mut used = indent.len();
            let cells = row.split(CELL_SEPARATOR);
            let count = row.matches(CELL_SEPARATOR).count() + 1;
            for (index, cell) in cells.enumerate() {
                if index + 1 == count {
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
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Escapes control characters (newlines in command lines, NULs in abstract
/// socket names) so one record stays on one line; ANSI colour is kept.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\x1b') {
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
