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
    let mut command = public_command();
    // clap_complete panics when its writer fails (`| head -1` closes the
    // pipe): generate into memory, then write, so a broken pipe is an
    // ordinary I/O error that exits 0 like every other command.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "porthole", &mut script);
    out.write_all(&script)?;
    Ok(ExitStatus::Success)
}

/// The command tree without hidden subcommands (the `free --hold` helper):
/// clap_complete would offer them otherwise, and clap has no way to remove
/// a subcommand, so the top level is rebuilt around the visible ones.
pub fn public_command() -> clap::Command {
    let full = Cli::command();
    let visible = full.get_subcommands().filter(|sub| !sub.is_hide_set()).cloned();
    let mut command = clap::Command::new(full.get_name().to_string())
        .version(env!("CARGO_PKG_VERSION"))
        .override_usage(crate::cli::args::USAGE)
        .subcommands(visible);
    if let Some(about) = full.get_about() {
        command = command.about(about.clone());
    }
    if let Some(after) = full.get_after_help() {
        command = command.after_help(after.clone());
    }
    command
}

/// Writes the man page (roff): porthole(1) with the overview, then one
/// section per subcommand (`PORTHOLE KILL`…, and for a command with verbs of
/// its own each verb too: `PORTHOLE PROXY SERVE`, `PORTHOLE PROXY TOXIC
/// ADD`…) with its synopsis, options, notes and examples, so `man -l` shows
/// every flag of every command.
pub fn man(out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let command = public_command();
    let mut main = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut main)?;
    out.write_all(main_page(&String::from_utf8_lossy(&main)).as_bytes())?;
    let mut sections = Vec::new();
    sections_of(&command, "porthole", &mut sections);
    for (name, sub) in sections {
        let page = clap_mangen::Man::new(sub.clone().name(name.clone()));
        let mut body = Vec::new();
        page.render_synopsis_section(&mut body)?;
        page.render_options_section(&mut body)?;
        page.render_extra_section(&mut body)?;
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
        writeln!(out, "{}", roff_escape(&about))?;
        out.write_all(subsection(&String::from_utf8_lossy(&body)).as_bytes())?;
    }
    Ok(ExitStatus::Success)
}

/// Every visible subcommand below `command`, depth first, each named by the
/// words that run it (`porthole proxy toxic add`): a verb's flags are its
/// own, and a page that stopped at `porthole proxy` would leave them out.
fn sections_of(command: &clap::Command, prefix: &str, sections: &mut Vec<(String, clap::Command)>) {
    for sub in
        command.get_subcommands().filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
    {
        let name = format!("{prefix} {}", sub.get_name());
        sections.push((name.clone(), sub.clone()));
        sections_of(sub, &name, sections);
    }
}

/// Renames clap_mangen's sections of the main page: the subcommand list
/// points to the sections below instead of separate pages, and the
/// after-help text is the EXAMPLES section.
fn main_page(roff: &str) -> String {
    let mut text = String::with_capacity(roff.len());
    let mut in_examples = false;
    let mut in_synopsis = false;
    for line in roff.lines() {
        if in_synopsis {
            // clap_mangen builds the synopsis from flags and ignores the
            // usage override: add the verb-less form `porthole PORT`.
            text.push_str(line);
            text.push_str(
                "\n.br\n\\fBporthole\\fR \\fIPORT\\fR|\\fIHOST:PORT\\fR [\\fB\\-t\\fR] \
                 [\\fB\\-u\\fR] [\\fB\\-\\-netns\\fR \\fINETNS\\fR] [\\fB\\-\\-json\\fR] \
                 (the same as \\fBporthole who\\fR)\n",
            );
            in_synopsis = false;
            continue;
        }
        in_synopsis = line == ".SH SYNOPSIS";
        if line.starts_with(".SH ") && in_examples {
            text.push_str(".fi\n");
            in_examples = false;
        }
        if line == ".SH EXTRA" {
            // Examples are laid out by hand: no filling.
            text.push_str(".SH EXAMPLES\n.nf\n");
            in_examples = true;
            continue;
        }
        match line.strip_prefix("porthole\\-").and_then(|rest| rest.strip_suffix("(1)")) {
            Some("help") => text.push_str("porthole help"),
            Some(sub) => {
                text.push_str(&format!("porthole {sub} (see PORTHOLE {})", sub.to_uppercase()))
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    if in_examples {
        text.push_str(".fi\n");
    }
    text
}

/// Turns a subcommand's top-level sections into subsections of its own
/// section (`.SH OPTIONS` → `.SS Options`); notes and examples keep their
/// hand-made line breaks.
fn subsection(roff: &str) -> String {
    let mut text = String::with_capacity(roff.len());
    let mut in_examples = false;
    for line in roff.lines() {
        match line.strip_prefix(".SH ") {
            Some(title) => {
                if in_examples {
                    text.push_str(".fi\n");
                    in_examples = false;
                }
                if title == "EXTRA" {
                    text.push_str(".SS \"Notes and examples\"\n.nf");
                    in_examples = true;
                } else {
                    let mut chars = title.chars();
                    let first = chars.next().map(|c| c.to_string()).unwrap_or_default();
                    text.push_str(&format!(".SS {first}{}", chars.as_str().to_lowercase()));
                }
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    if in_examples {
        text.push_str(".fi\n");
    }
    text
}

/// Escapes text for a roff paragraph (backslashes, leading dots, dashes).
fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn man_text() -> String {
        let mut out = Vec::new();
        man(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// How clap_mangen spells a flag in roff (`\-\-dry\-run`).
    fn roff_flag(flag: &str) -> String {
        flag.replace('-', "\\-")
    }

    /// The section of `heading` alone, up to the next `.SH`.
    fn section<'a>(text: &'a str, heading: &str) -> &'a str {
        let start = text.find(heading).unwrap_or_else(|| panic!("missing {heading}"));
        let body = &text[start + heading.len()..];
        &body[..body.find("\n.SH ").unwrap_or(body.len())]
    }

    /// Checks the section of `sub` (named by the words that run it) and
    /// those of its own verbs: each names every flag the verb takes.
    fn assert_documented(text: &str, words: &str, sub: &clap::Command) {
        let heading = format!(".SH \"{}\"", words.to_uppercase());
        let body = section(text, &heading);
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                let flag = roff_flag(&format!("--{long}"));
                assert!(body.contains(&flag), "{words}: missing {flag}");
            }
            if let Some(short) = arg.get_short() {
                let flag = roff_flag(&format!("-{short}"));
                assert!(body.contains(&flag), "{words}: missing {flag}");
            }
        }
        for verb in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
            assert_documented(text, &format!("{words} {}", verb.get_name()), verb);
        }
    }

    #[test]
    fn the_man_page_documents_every_subcommand_and_flag() {
        let text = man_text();
        for sub in Cli::command().get_subcommands().filter(|s| !s.is_hide_set()) {
            assert_documented(&text, &format!("porthole {}", sub.get_name()), sub);
        }
        // The proxy's verbs each have their section, with their own flags.
        assert!(section(&text, ".SH \"PORTHOLE PROXY RUN\"").contains("\\-\\-latency"));
        assert!(section(&text, ".SH \"PORTHOLE PROXY TOXIC ADD\"").contains("\\-\\-toxicity"));
        assert!(!text.contains("__hold"), "hidden commands stay out of the page");
        assert!(!text.contains(".SH EXTRA"));
        // One title line: a single page.
        assert_eq!(text.matches(".TH ").count(), 1);
    }

    #[test]
    fn completions_cover_the_commands_but_not_hidden_ones() {
        for shell in [ShellArg::Bash, ShellArg::Zsh, ShellArg::Fish] {
            let mut out = Vec::new();
            completions(CompletionsArgs { shell }, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            for word in ["kill", "free", "grace", "dry-run", "prefer", "hold", "ls", "who"] {
                assert!(text.contains(word), "{shell:?}: missing {word}");
            }
            assert!(!text.contains("__hold"), "{shell:?} offers the hidden holder");
        }
    }

    #[test]
    fn every_command_help_has_examples() {
        for sub in public_command().get_subcommands() {
            let after = sub.get_after_help().map(ToString::to_string).unwrap_or_default();
            assert!(after.contains("Example"), "{} --help has no examples", sub.get_name());
        }
    }
}
