//! porthole: the services on a machine's loopback address and local ports.
//!
//! # Layout
//! - [`cli`]: clap definitions and their resolution into settings.
//! - [`commands`]: one module per verb; each returns data and an exit status.
//! - [`inventory`]: the socket inventory engine (netlink, /proc, owners).
//! - [`model`]: plain data shared by engines and renderers.
//! - [`proxy`]: the Toxiproxy-compatible fault-injection proxy engine.
//! - [`render`]: tables and JSON wire types; the only code that prints.
//! - [`sys`]: the only home of `unsafe` and raw system calls.
//!
//! Dependencies point one way: `cli → commands → engines → model`; `render`
//! depends only on `model`.

pub mod cli;
pub mod commands;
pub mod model;
pub mod proxy;
pub mod render;
pub mod sys;

pub use commands::{is_broken_pipe, report_error, run, ExitStatus};
