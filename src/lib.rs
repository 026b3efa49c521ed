//! porthole: the services on a machine's loopback address and local ports.
//!
//! # Layout
//! - [`cli`]: clap definitions and their resolution into settings.
//! - [`commands`]: one module per verb; each returns data and an exit status.
//! - [`inventory`]: the socket inventory engine (netlink, /proc, owners).
//! - [`diagnose`]: why a connection or bind fails (`check`, `wait`).
//! - [`audit`]: safe probes, rules and findings for `porthole audit`.
//! - [`model`]: plain data shared by engines and renderers.
//! - [`proxy`]: the Toxiproxy-compatible fault-injection proxy engine.
//! - [`monitor`]: the capture engine of `porthole monitor` (listeners and
//!   connections over time, eBPF or netlink).
//! - [`render`]: tables and JSON wire types; the only code that prints.
//! - [`portinfo`]: what a port number means (ranges, services, browsers).
//! - [`target`]: endpoints as users type them.
//! - [`sys`]: the only home of `unsafe` and raw system calls.
//! - [`termination`]: stopping a port's listeners (`kill`).
//! - [`allocation`]: finding and holding a free port (`free`).
//! - [`store`]: the history the recorder writes and `porthole history` reads.
//! - [`top`]: samples and rates behind the live view (`top`).
//! - [`dashboard`]: the web dashboard and `/metrics` (`dashboard`,
//!   `monitor --serve`).
//!
//! Dependencies point one way: `cli → commands → engines → model`; `render`
//! depends only on `model` (and, for the proxy's CLI client, on the
//! Toxiproxy API's own wire types in `proxy::wire`).

pub mod allocation;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod dashboard;
pub mod diagnose;
pub mod inventory;
pub mod model;
pub mod monitor;
pub mod portinfo;
pub mod proxy;
pub mod render;
pub mod store;
// The one module allowed to use `unsafe` (denied everywhere else in
// Cargo.toml's [lints]).
#[allow(unsafe_code)]
pub mod sys;
pub mod target;
pub mod termination;
pub mod top;

pub use commands::{is_broken_pipe, report_error, run, ExitStatus};
