//! Terminal styling: colour only when stdout is a terminal, `NO_COLOR` is
//! unset and `TERM` is not `dumb` (a terminal that understands no escape
//! sequences), so piped output and logs stay plain.
//! See: <https://no-color.org/>

use std::io::IsTerminal;

/// Whether to emit ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    /// Terminal width, when stdout is a terminal.
    pub width: Option<usize>,
}

impl Style {
    /// Detects the style for stdout.
    pub fn detect() -> Self {
        let terminal = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
            || std::env::var_os("TERM").is_some_and(|term| term == "dumb");
        let width = if terminal {
            std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).or_else(terminal_width)
        } else {
            None
        };
        Style { color: terminal && !no_color, width }
    }

    /// Plain output (tests, pipes).
    pub fn plain() -> Self {
        Style { color: false, width: None }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    pub fn red(&self, text: &str) -> String {
        self.paint("31", text)
    }
    pub fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    pub fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn terminal_width() -> Option<usize> {
    rustix::termios::tcgetwinsize(std::io::stdout())
        .ok()
        .map(|size| usize::from(size.ws_col))
        .filter(|&w| w > 0)
}
