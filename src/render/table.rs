//! Aligned text tables. Cells may carry ANSI colour; widths are computed on
//! the visible text so colour never breaks alignment.

use std::io::Write;

/// A table of rows with a header; the last column may be truncated to fit
/// the terminal.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the table; with `max_width`, the last column is cut with `…`
    /// so lines do not wrap (long command lines).
    pub fn write(
        &self,
        out: &mut dyn Write,
        max_width: Option<usize>,
        indent: &str,
    ) -> std::io::Result<()> {
        let columns = self.header.len();
        let mut widths = vec![0usize; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (index, cell) in row.iter().enumerate().take(columns) {
                widths[index] = widths[index].max(visible_len(cell));
            }
        }
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::from(indent);
            let mut used = indent.len();
            for (index, cell) in row.iter().enumerate().take(columns) {
                let last = index + 1 == columns;
                if last {
                    let cell = match max_width {
                        Some(width) if used + visible_len(cell) > width && width > used + 1 => {
                            truncate_visible(cell, width - used)
                        }
                        _ => cell.clone(),
                    };
                    line.push_str(&cell);
                } else {
                    line.push_str(cell);
                    let pad = widths[index] - visible_len(cell) + 2;
                    line.push_str(&" ".repeat(pad));
                    used += widths[index] + 2;
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
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
    }
}
