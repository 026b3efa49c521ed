//! `porthole completions SHELL` and `porthole man`: generated from the same
//! clap definitions as the parser, so they never drift from the real flags.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::args::{CompletionsArgs, ShellArg};
use crate::cli::Cli;
use crate::commands::ExitStatus;

/// Writes the completion script for the requested shell.
pub fn completions(args: CompletionsArgs, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let CompletionsArgs { shell } = args;
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
        ShellArg::Elvish => Shell::Elvish,
        ShellArg::Powershell => Shell::PowerShell,
    };
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "porthole", out);
    Ok(ExitStatus::Success)
}

/// Writes the man page (roff): the main page followed by one section per
/// subcommand, so `man -l` shows every flag.
pub fn man(out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let command = Cli::command();
    clap_mangen::Man::new(command.clone()).render(out)?;
    for sub in command.get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let page = clap_mangen::Man::new(sub.clone().name(format!("porthole-{}", sub.get_name())));
        page.render_name_section(out)?;
        page.render_synopsis_section(out)?;
        page.render_description_section(out)?;
        page.render_options_section(out)?;
        page.render_extra_section(out)?;
    }
    Ok(ExitStatus::Success)
}
