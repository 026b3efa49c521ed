//! The command-line layer: clap definitions ([`args`]) and their resolution
//! into validated settings ([`settings`]). Nothing below `commands` sees clap.

pub mod args;
pub mod settings;

use std::ffi::OsString;
use std::process::ExitCode;

pub use args::{Cli, Command};

/// Subcommand names; anything else in first position is an endpoint for
/// `porthole who` (`porthole 5432`, `porthole 127.0.0.1:62893`).
const SUBCOMMANDS: &[&str] = &[
    "ls",
    "who",
    "check",
    "wait",
    "kill",
    "free",
    "audit",
    "proxy",
    "top",
    "completions",
    "man",
    "help",
    "__hold",
];

/// Rewrites `porthole ENDPOINT …` to `porthole who ENDPOINT …` so the most
/// common question needs no verb.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    if let Some(first) = args.get(1).and_then(|a| a.to_str()) {
        let is_flag = first.starts_with('-');
        if !is_flag && !SUBCOMMANDS.contains(&first) {
            args.insert(1, OsString::from("who"));
        }
    }
    args
}

/// Prints a clap error as one line (help and version go to stdout with 0).
#[expect(clippy::print_stderr, reason = "only the binary's entry path reports usage errors")]
pub fn report_clap_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(2)
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string();
            eprintln!("porthole: {first}");
            ExitCode::from(2)
        }
    }
}
