//! porthole: the services on a machine's loopback address and local ports.
//!
//! # Layout
//! - [`cli`]: clap definitions and their resolution into settings.
//! - [`commands`]: one module per verb; each resolves its settings, calls
//!   an engine, renders the data, and returns an exit status.
//! - [`inventory`]: the socket inventory engine (netlink, /proc, owners),
//!   the readers of firewall rulesets (`nftables`, `iptables`), the
//!   [`inventory::system::System`] handle the reasoning engines read the
//!   machine through (its module doc names what samples directly), and the
//!   port report of `porthole PORT`.
//! - [`diagnose`]: why a connection or bind fails (`check`), and the
//!   readiness polling of `wait`.
//! - [`audit`]: safe probes, rules and findings for `porthole audit`.
//! - [`model`]: plain data shared by engines and renderers (sockets,
//!   port sets, port reports, plans, findings, proxy traffic).
//! - [`proxy`]: the Toxiproxy-compatible fault-injection proxy engine, and
//!   its start-up as a service (runtime, signals, config file).
//! - [`alerts`]: rules and delivery of `porthole monitor`'s alerts.
//! - [`monitor`]: the capture engine of `porthole monitor` (listeners and
//!   connections over time, eBPF or netlink).
//! - [`render`]: tables and JSON wire types; the only code that prints.
//! - [`portinfo`]: what a port number means (ranges, services, browsers).
//! - [`target`]: endpoints as users type them, and the one port parser.
//! - [`duration`]: the one duration parser (flags, the alert rules file).
//! - [`http1`]: HTTP/1.x response heads and chunked bodies, for every
//!   hand-written HTTP exchange (probes, the proxy API client).
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

pub mod alerts;
pub mod allocation;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod dashboard;
pub mod diagnose;
pub mod duration;
pub mod file_kind;
pub mod http1;
pub mod inventory;
pub mod model;
pub mod monitor;
pub mod portinfo;
pub mod proxy;
pub mod render;
pub mod shell;
pub mod store;
// The one module allowed to use `unsafe` (denied everywhere else in
// Cargo.toml's [lints]).
#[allow(unsafe_code)]
pub mod sys;
pub mod target;
pub mod termination;
pub mod top;

pub use commands::{is_broken_pipe, report_error, run, ExitStatus};
