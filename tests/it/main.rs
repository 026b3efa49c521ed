//! Integration tests: the real `porthole` binary against real sockets,
//! processes, network namespaces and servers. One test binary (faster to
//! link) with one module per command.

// Tests report skipped cases on stderr (see `util::skip`).
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod util;

mod audit;
mod audit_files;
mod audit_fixes;
mod audit_packages;
mod audit_passwords;
mod audit_unix;
mod bpf_filters;
mod check;
mod check_gateway;
mod check_redirect;
mod cli;
mod diagnosis;
mod ls;
mod ls_owner_scan;
mod wait;
mod wait_services;
mod who;

mod alerts;
mod dashboard;
mod free;
mod history;
mod hostile;
mod json;
mod kill;
mod monitor;
mod monitor_capture;
mod monitor_open;
mod proxy;
mod proxy_toxics;

mod package;
mod top;
