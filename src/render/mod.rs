//! Renderers: the only code that writes tables and JSON. Each takes data
//! from `model` and a [`Format`]; commands never print themselves.

pub mod alert;
pub mod audit;
pub mod dashboard;
pub mod diagnosis;
pub mod free;
pub mod history;
pub mod json;
pub mod kill;
pub mod listing;
pub mod monitor;
pub mod port;
pub mod proxy;
pub mod sanitize;
pub mod style;
pub mod table;
pub mod top;

pub use style::Style;

/// How a command's data is written to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON document.
    Json,
    /// JSON Lines: one object per line.
    Jsonl,
}
