//! Renderers: the only code that writes tables and JSON.

pub mod proxy;
