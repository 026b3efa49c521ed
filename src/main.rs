//! The `porthole` binary: parse the command line, run, map the outcome to a
//! grep-style exit code (0 yes, 1 no, 2 error). All logic lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = porthole::cli::normalize_args(std::env::args_os());
    let cli = match porthole::cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => return porthole::cli::report_clap_error(error, &args),
    };
    match porthole::run(cli) {
        Ok(status) => status.into(),
        Err(error) => {
            if porthole::is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            porthole::report_error(&error);
            ExitCode::from(2)
        }
    }
}
