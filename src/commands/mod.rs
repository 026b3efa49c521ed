//! One module per verb the user types. A command resolves its settings
//! (`crate::cli::settings`), asks an engine for data, hands the data to
//! `render`, and returns an [`ExitStatus`]; only `main.rs` turns that into a
//! process exit code. Commands route; engines work: no command classifies
//! sockets, polls, or reads the machine itself. The one place a command
//! reads input is `kill`'s confirmation, since renderers only write.

pub(crate) mod alerting;
pub mod audit;
pub mod check;
pub mod completions;
pub mod dashboard;
pub mod free;
pub mod history;
pub mod kill;
pub mod ls;
pub mod monitor;
pub mod proxy;
pub mod top;
pub mod wait;
pub mod who;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::render::sanitize::{elide_long_words, Foreign};

/// grep-style outcome: 0 yes, 1 no, 2 error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The answer is yes: found, ready, freed, healthy.
    Success,
    /// The answer is no: nothing holds the port, a cause was found, timed out.
    Failure,
    /// Something went wrong (bad input, a port still held after `kill`).
    Error,
    /// A child command's own exit code, passed through (`wait -- CMD`).
    Code(u8),
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::SUCCESS,
            ExitStatus::Failure => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
            ExitStatus::Code(code) => ExitCode::from(code),
        }
    }
}

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // Checked up front so every command rejects a misspelt backend, not
    // only the ones that list sockets on the path taken this time.
    crate::inventory::Backend::from_env()?;
    let status = match cli.command {
        Command::Ls(args) => ls::run(args, &mut out)?,
        Command::Who(args) => who::run(args, &mut out)?,
        Command::Completions(args) => completions::completions(args, &mut out)?,
        Command::Man => completions::man(&mut out)?,
        Command::Kill(args) => kill::run(args, &mut out)?,
        Command::Free(args) => free::run(args, &mut out)?,
        Command::Hold(args) => free::run_holder(args)?,
        Command::Check(args) => check::run(args, &mut out)?,
        // `wait` flushes every line it writes, and its answer does not
        // depend on a reader: bytes a closed pipe left in the buffer are
        // not flushed again (which would end the run as a broken pipe).
        Command::Wait(args) => return wait::run(args, &mut out),
        Command::Proxy(args) => proxy::proxy(args, &mut out)?,
        Command::Audit(args) => audit::run(args, &mut out)?,
        Command::Monitor(args) => monitor::run(args, &mut out)?,
        Command::History(args) => history::run(args, &mut out)?,
        Command::Dashboard(args) => dashboard::run(args)?,
        Command::Top(args) => top::run(args, &mut out)?,
    };
    out.flush()?;
    Ok(status)
}

/// Whether the error is a closed stdout (`porthole ls | head`), which is not
/// a failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints an error as one line: `porthole: what: why`. Errors may quote
/// process names, paths or replies, so the line is sanitised whole.
#[expect(clippy::print_stderr, reason = "the single place errors are shown")]
pub fn report_error(error: &anyhow::Error) {
    let message: Vec<String> = error.chain().map(ToString::to_string).collect();
    let shown = Foreign(&message.join(": ")).to_string();
    eprintln!("porthole: {}", elide_long_words(&shown));
}

/// Prints a warning line on stderr (partial permission, skipped
/// namespaces), sanitised like [`report_error`].
#[expect(clippy::print_stderr, reason = "diagnostics go to stderr")]
pub fn warn(message: &str) {
    let shown = Foreign(message).to_string();
    eprintln!("porthole: {}", elide_long_words(&shown));
}
