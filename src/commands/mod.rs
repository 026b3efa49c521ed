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
    // The commands that answer yes or no write through `answer`, which
    // outlives a reader that left; those that stream until stopped
    // (`monitor`, `proxy serve`, `top`) write to `out` itself, so a closed
    // pipe ends them.
    let mut answer = Reported::new(&mut out);
    let status = match cli.command {
        Command::Ls(args) => ls::run(args, &mut answer)?,
        Command::Who(args) => who::run(args, &mut answer)?,
        Command::Completions(args) => completions::completions(args, answer.inner)?,
        Command::Man => completions::man(answer.inner)?,
        Command::Kill(args) => kill::run(args, &mut answer)?,
        Command::Free(args) => free::run(args, &mut answer)?,
        Command::Hold(args) => free::run_holder(args)?,
        Command::Check(args) => check::run(args, &mut answer)?,
        // `wait` flushes every line it writes through its own `Reported`:
        // bytes a closed pipe left in the buffer are not flushed again
        // (which would end the run as a broken pipe).
        Command::Wait(args) => return wait::run(args, answer.inner),
        Command::Proxy(args) => proxy::proxy(args, answer.inner)?,
        Command::Audit(args) => audit::run(args, &mut answer)?,
        Command::Monitor(args) => monitor::run(args, answer.inner)?,
        Command::History(args) => history::run(args, &mut answer)?,
        Command::Dashboard(args) => dashboard::run(args)?,
        Command::Top(args) => top::run(args, answer.inner)?,
    };
    answer.flush()?;
    Ok(status)
}

/// Output whose reader may leave: once a write finds the pipe closed
/// (`porthole check … | head -c1`, `porthole wait … | head -1`, a log
/// collector that died), later writes are dropped instead of failing. For
/// the commands whose exit status is their answer (0 yes, 1 no) the output
/// is a side channel: a reader that left does not make a port reachable or
/// a target ready, so the command runs to its end and exits with its own
/// answer. A broken pipe that ended the run would exit 0, "yes", for any
/// answer.
pub(crate) struct Reported<W> {
    pub(crate) inner: W,
    /// The reader is gone.
    closed: bool,
}

impl<W: Write> Reported<W> {
    pub(crate) fn new(inner: W) -> Self {
        Reported { inner, closed: false }
    }

    /// Turns a broken pipe into "closed", any other result passes.
    fn tolerate<T>(&mut self, result: std::io::Result<T>, value: T) -> std::io::Result<T> {
        match result {
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(value)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for Reported<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.tolerate(result, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.tolerate(result, ())
    }
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
    // A cause whose text its parent already shows (libraries that print
    // their source inside their own message) is not repeated.
    let mut message: Vec<String> = Vec::new();
    for text in error.chain().map(ToString::to_string) {
        if !message.last().is_some_and(|shown| shown.contains(&text)) {
            message.push(text);
        }
    }
    let shown = Foreign(&message.join(": ")).to_string();
    eprintln!("porthole: {}", elide_long_words(&shown));
}

/// This command line again, for a fix line: `env` set before it, porthole
/// called so that `runner`'s `PATH` runs this build (`porthole`, else its
/// path), every argument as typed with `extra` added (before a `--`), each
/// a printable shell word, so it runs as printed.
pub(crate) fn this_command(
    env: Option<(&str, &std::path::Path)>,
    runner: crate::inventory::system::Runner,
    extra: &[&std::ffi::OsStr],
) -> String {
    use crate::inventory::system::System as _;
    use std::os::unix::ffi::OsStrExt;
    let mut arguments: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let at = arguments.iter().position(|argument| argument == "--").unwrap_or(arguments.len());
    arguments.splice(at..at, extra.iter().map(|word| word.to_os_string()));
    let word = |text: &std::ffi::OsStr| crate::shell::printable_word_bytes(text.as_bytes());
    let mut words = Vec::new();
    if let Some((name, value)) = env {
        words.push(format!("{name}={}", word(value.as_os_str())));
    }
    words.push(crate::inventory::system::Machine.porthole_program(runner));
    words.extend(arguments.iter().map(|argument| word(argument)));
    words.join(" ")
}

/// Advice to run this command line again as root, through `sudo` or `su`
/// as `kill` writes its runs as root ([`crate::termination::as_root`]), with
/// porthole called as root's `PATH` runs this build; said in words where
/// neither is installed.
pub(crate) fn again_as_root(what: &str) -> String {
    again_as_root_with(&[], what)
}

/// [`again_as_root`] with `extra` arguments added to the command line (see
/// [`this_command`]).
pub(crate) fn again_as_root_with(extra: &[&std::ffi::OsStr], what: &str) -> String {
    use crate::inventory::system::Runner;
    use crate::model::termination::AsRoot;
    let as_root = crate::termination::as_root(
        &crate::inventory::system::Machine,
        rustix::process::getuid().as_raw(),
        rustix::process::geteuid().is_root(),
    );
    let command = this_command(None, Runner::Root, extra);
    match as_root {
        AsRoot::Already | AsRoot::Unknown => format!("`{command}` run as root {what}"),
        wrapper => format!("`{}` {what}", wrapper.wrap(&command)),
    }
}

/// Where a user who is not root finds the recorder's store, said after an
/// answer from their own store that knew nothing (`own`: that store's
/// path, `missing` when it does not exist). `store_option`: the command
/// takes `--store`; otherwise `PORTHOLE_STORE` is set before it.
pub(crate) fn system_store_advice(
    own: &std::path::Path,
    missing: bool,
    system: &crate::store::SystemStore,
    store_option: bool,
) -> String {
    use crate::inventory::system::Runner;
    let head = if missing {
        format!("no history at {} yet", own.display())
    } else {
        format!("nothing recorded in {} matches", own.display())
    };
    match system {
        crate::store::SystemStore::Readable(path) => {
            let line = if store_option {
                this_command(None, Runner::User, &["--store".as_ref(), path.as_os_str()])
            } else {
                this_command(Some(("PORTHOLE_STORE", path)), Runner::User, &[])
            };
            format!(
                "{head}, but the recorder's service keeps its store in {}: `{line}` reads it",
                path.display()
            )
        }
        crate::store::SystemStore::Unreadable(path) => format!(
            "{head}, but the recorder's service keeps its store in {}, which this user may not \
             read: {}",
            path.display(),
            again_as_root("reads it")
        ),
    }
}

/// Prints a warning line on stderr (partial permission, skipped
/// namespaces), sanitised like [`report_error`].
#[expect(clippy::print_stderr, reason = "diagnostics go to stderr")]
pub fn warn(message: &str) {
    let shown = Foreign(message).to_string();
    eprintln!("porthole: {}", elide_long_words(&shown));
}
