//! The command-line layer: clap definitions ([`args`]) and their resolution
//! into validated settings ([`settings`]). Nothing below `commands` sees clap.

pub mod args;
pub mod dashboard;
// The duration parser moved to the crate root so engines (the alert rules
// file) share it; `cli::duration` keeps naming it for the flag layer.
pub use crate::duration;
pub mod history;
pub mod proxy;
pub mod settings;
pub mod size;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::CommandFactory;

pub use args::{Cli, Command};

use crate::render::sanitize::{elide_long_words, sanitize};

/// Every word clap accepts as a subcommand, aliases included, read from the
/// clap definition itself so a new subcommand or alias can never be
/// mistaken for an endpoint (`porthole list` used to become `who list`).
pub fn subcommand_words() -> Vec<String> {
    let mut command = Cli::command();
    // Building adds the implicit `help` subcommand.
    command.build();
    command
        .get_subcommands()
        .flat_map(|sub| std::iter::once(sub.get_name()).chain(sub.get_all_aliases()))
        .map(str::to_string)
        .collect()
}

/// Whether a first word can only be meant as an endpoint for `who`: it
/// starts with a digit (`5432`, `127.0.0.1:80`), is a bracketed IPv6
/// address, or names a port after a colon (`localhost:8080`). A bare word
/// (`chek`, `localhost`) is a mistyped subcommand or an endpoint without its
/// port; clap then reports it with a suggestion.
fn looks_like_endpoint(word: &str) -> bool {
    // Blanks around the word are ignored, as they are after it and by
    // every other port argument (`' 80'` is port 80, as `'80 '` is).
    let word = word.trim_start();
    word.starts_with(|c: char| c.is_ascii_digit()) || word.starts_with('[') || word.contains(':')
}

/// Rewrites `porthole ENDPOINT …` to `porthole who ENDPOINT …` so the most
/// common question needs no verb. `porthole -- ENDPOINT` (the `--` a script
/// puts before an argument it did not write) is `porthole who -- ENDPOINT`:
/// without a verb clap took the endpoint for a subcommand and advised
/// `porthole 8080:PORT` for port 8080.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    move_proxy_api_flags(&mut args);
    // `porthole -t 53`, `porthole --json 8080`: flags of `who` before the
    // endpoint (which the usage line shows after it) are `who`'s too.
    let flags = leading_who_flags(&args[1.min(args.len())..]);
    if flags > 0 {
        let rest = &args[1 + flags..];
        let endpoint = match rest.first().and_then(|a| a.to_str()) {
            Some("--") => rest.get(1).and_then(|a| a.to_str()).is_some(),
            Some(word) => {
                looks_like_endpoint(word) && !subcommand_words().iter().any(|known| known == word)
            }
            None => false,
        };
        if endpoint {
            args.insert(1, OsString::from("who"));
        }
        return args;
    }
    if args.get(1).is_some_and(|a| a == "--") {
        if let Some(word) = args.get(2).and_then(|a| a.to_str()) {
            let signed = word.trim_start().starts_with(['-', '+']);
            if (signed || looks_like_endpoint(word))
                && !subcommand_words().iter().any(|known| known == word)
            {
                args.insert(1, OsString::from("who"));
            }
        }
        return args;
    }
    if let Some(first) = args.get(1).and_then(|a| a.to_str()) {
        let is_flag = first.starts_with('-');
        if !is_flag
            && looks_like_endpoint(first)
            && !subcommand_words().iter().any(|word| word == first)
        {
            args.insert(1, OsString::from("who"));
        }
    }
    args
}

/// Moves the API flags of the proxy client (`--url`/`--host`, `--token`,
/// `--timeout`) written between `proxy` and a client verb to after the verb,
/// where clap takes them: toxiproxy-cli puts `--host` first
/// (`toxiproxy-cli --host URL list`), and `porthole proxy --url URL list`
/// was refused. Before `serve` or `run`, which talk to no API, they stay
/// where they are and clap refuses them.
fn move_proxy_api_flags(args: &mut Vec<OsString>) {
    use clap::Args as _;
    let Some(first) = args.get(1).and_then(|a| a.to_str()) else {
        return;
    };
    let mut cli = Cli::command();
    cli.build();
    let Some(proxy) = cli.find_subcommand(first).filter(|sub| sub.get_name() == "proxy") else {
        return;
    };
    // The flags' spellings come from their clap definition, aliases included.
    let api = args::ProxyApiArgs::augment_args(clap::Command::new("api"));
    let names: Vec<&str> = api
        .get_arguments()
        .flat_map(|arg| arg.get_long().into_iter().chain(arg.get_all_aliases().unwrap_or_default()))
        .collect();
    let mut moved = Vec::new();
    while let Some(word) = args.get(2).and_then(|a| a.to_str()) {
        let Some(flag) = word.strip_prefix("--") else {
            break;
        };
        let (name, width) = flag.split_once('=').map_or((flag, 2), |(name, _)| (name, 1));
        if !names.contains(&name) || args.len() < 2 + width {
            break;
        }
        moved.extend(args.drain(2..2 + width));
    }
    if moved.is_empty() {
        return;
    }
    let mut command = proxy;
    let mut position = 2;
    while let Some(sub) =
        args.get(position).and_then(|a| a.to_str()).and_then(|word| command.find_subcommand(word))
    {
        position += 1;
        if sub.get_arguments().any(|arg| arg.get_id() == "url") {
            args.splice(position..position, moved);
            return;
        }
        command = sub;
    }
    args.splice(2..2, moved);
}

/// How many of `args` (the words after `porthole`) are, from the first on,
/// flags `porthole who` takes: `-t`, `-u` (also together), `--tcp`,
/// `--udp`, `--json`, `--netns NAME` and `--netns=NAME`.
fn leading_who_flags(args: &[OsString]) -> usize {
    let mut count = 0;
    while let Some(word) = args.get(count).and_then(|a| a.to_str()) {
        let short = word.strip_prefix('-').filter(|rest| {
            !rest.is_empty() && !rest.starts_with('-') && rest.chars().all(|c| c == 't' || c == 'u')
        });
        if short.is_some()
            || matches!(word, "--tcp" | "--udp" | "--json")
            || word.starts_with("--netns=")
        {
            count += 1;
        } else if word == "--netns" && args.len() > count + 1 {
            count += 2;
        } else {
            break;
        }
    }
    count
}

/// Prints a clap error as one `porthole: ` line (help and version go to
/// stdout with 0). Everything clap says below its first line (what is
/// missing, the allowed values, the nearest subcommand for a typo, the
/// usage) is folded into that line, so a script's log shows the whole
/// mistake on one line and the first line alone names it.
#[expect(clippy::print_stderr, reason = "only the binary's entry path reports usage errors")]
pub fn report_clap_error(error: clap::Error, args: &[OsString]) -> ExitCode {
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
            eprint!("{}", usage_message(error, args));
            ExitCode::from(2)
        }
    }
}

/// The text of a usage error, one line: clap's message with its details
/// folded in, `porthole: ` first, plus a hint for a bare word that is no
/// subcommand and no endpoint. `args` is the command line clap parsed, to
/// name an argument that is not UTF-8 (clap only says that one is).
pub fn usage_message(mut error: clap::Error, args: &[OsString]) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    escape_context(&mut error);
    let error = &error;
    let rendered = error.render().to_string();
    let mut message = ClapMessage::parse(rendered.trim_start_matches("error: "));
    let named: Vec<String> = args
        .iter()
        .skip(1)
        .filter(|arg| arg.to_str().is_none())
        .map(|arg| sanitize(&crate::model::os_text::from_os_str(arg)).into_owned())
        .collect();
    // A word that is not UTF-8 where clap expects none (a first word, an
    // extra argument) reaches clap as an unknown subcommand or argument, its
    // bytes replaced by U+FFFD: named as every other such argument.
    let lossy = [ContextKind::InvalidSubcommand, ContextKind::InvalidArg].into_iter().any(|kind| {
        matches!(error.get(kind), Some(ContextValue::String(word)) if word.contains('\u{FFFD}'))
    });
    let not_utf8 = !named.is_empty() && (error.kind() == ErrorKind::InvalidUtf8 || lossy);
    if not_utf8 {
        message.headline = format!(
            "{} not valid UTF-8: ports, names, addresses and commands are read as text",
            match named.as_slice() {
                [one] => format!("argument '{one}' is"),
                many => format!("arguments '{}' are", many.join("', '")),
            }
        );
        message.tips.clear();
    } else if error.kind() == ErrorKind::InvalidUtf8 {
        // No argument is: a variable clap reads for a flag
        // (`PORTHOLE_STORE`, `TOXIPROXY_URL`) is, which clap calls "one or
        // more arguments".
        let variables = non_utf8_variables();
        if !variables.is_empty() {
            message.headline = format!(
                "{} {} not valid UTF-8: the value is read as text (unset it or give the flag)",
                variables.join(", "),
                if variables.len() == 1 { "is" } else { "are" }
            );
        }
    }
    quote_short_cluster_as_typed(error, &mut message, args);
    let (path, level) = subcommand_path(args);
    // A service name (`http`, `postgresql`) is not looked up: the port it
    // stands for is named instead, so the answer is about the port the user
    // types. It replaces clap's own suggestion (`http` is not a typo of
    // `top`).
    let service = match error.get(ContextKind::InvalidSubcommand) {
        Some(ContextValue::String(word))
            if error.kind() == ErrorKind::InvalidSubcommand
                && path == "porthole"
                && is_host_name(word) =>
        {
            let ports: Vec<String> =
                crate::portinfo::ports_of_service(word).iter().map(ToString::to_string).collect();
            (!ports.is_empty()).then(|| {
                format!(
                    "'{word}' is a service name, not a port: /etc/services gives it port \
                     {}; ask with 'porthole {}'",
                    ports.join(", "),
                    ports[0]
                )
            })
        }
        _ => None,
    };
    if let Some(hint) = service {
        message.tips.retain(|tip| !tip.contains("similar subcommand"));
        message.tips.insert(0, hint);
    } else if error.kind() == ErrorKind::InvalidSubcommand
        && error.get(ContextKind::SuggestedSubcommand).is_none()
        && !not_utf8
    {
        if let Some(ContextValue::String(word)) = error.get(ContextKind::InvalidSubcommand) {
            let top = path == "porthole";
            let hint = match nearest_subcommand(word, &level) {
                Some(near) => Some(format!("a similar subcommand exists: '{near}'")),
                // Below the top there are no endpoints to suggest.
                None if !top => None,
                // Suggest `WORD:PORT` only for a word that can be a host
                // name: for `''` or `+80` that advice would fail too.
                None if is_host_name(word) => Some(format!(
                    "to ask about a port, give the port: 'porthole {word}:PORT' or \
                     'porthole PORT'"
                )),
                None if word
                    .trim_start_matches(['+', '-'])
                    .starts_with(|c: char| c.is_ascii_digit()) =>
                {
                    Some(format!(
                        "'{word}' is not a port number: write the port in decimal digits \
                         (0-65535), as in 'porthole 8080'"
                    ))
                }
                None => Some(
                    "to ask about a port, give the port: 'porthole PORT' or \
                     'porthole HOST:PORT'"
                        .to_string(),
                ),
            };
            message.tips.splice(0..0, hint);
        }
    }
    if let Some(hint) = kill_signal_hint(error, &path, args) {
        // clap's own tip (`use '-- -9'`) would pass it as a port.
        message.tips.retain(|tip| !tip.contains("as a value"));
        message.tips.insert(0, hint);
    }
    if let Some(hint) = free_port_hint(error, &path) {
        message.tips.insert(0, hint);
    }
    if let Some(hint) = port_list_hint(error, &path, args) {
        message.tips.insert(0, hint);
    }
    message.command = path;
    format!("porthole: {}\n", elide_long_words(&message.one_line()))
}

/// The variables clap reads for a flag (`env = …` in [`args`]) that are set
/// to bytes that are not UTF-8, each as `NAME='VALUE'` with the bytes shown
/// as `\xNN`.
fn non_utf8_variables() -> Vec<String> {
    fn collect(command: &clap::Command, names: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env().and_then(|name| name.to_str()) {
                if !names.iter().any(|known| known == name) {
                    names.push(name.to_string());
                }
            }
        }
        for sub in command.get_subcommands() {
            collect(sub, names);
        }
    }
    let mut names = Vec::new();
    collect(&Cli::command(), &mut names);
    names
        .into_iter()
        .filter_map(|name| {
            let value = std::env::var_os(&name).filter(|value| value.to_str().is_none())?;
            let shown = sanitize(&crate::model::os_text::from_os_str(&value)).into_owned();
            Some(format!("{name}='{shown}'"))
        })
        .collect()
}

/// clap names the first unknown letter of a short-flag cluster (`-5` of
/// `-5s`, `-1` of `-1h`) as the unexpected argument; the word typed is
/// quoted instead, in the headline and in the `'-- WORD'` tip, which is
/// only right for the whole word.
fn quote_short_cluster_as_typed(error: &clap::Error, message: &mut ClapMessage, args: &[OsString]) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::UnknownArgument {
        return;
    }
    let Some(ContextValue::String(unknown)) = error.get(ContextKind::InvalidArg) else {
        return;
    };
    if unknown.starts_with("--") || unknown.chars().count() != 2 {
        return;
    }
    let Some(word) = args.iter().skip(1).filter_map(|arg| arg.to_str()).find(|word| {
        !word.starts_with("--") && word.len() > unknown.len() && word.starts_with(unknown.as_str())
    }) else {
        return;
    };
    let (from, to) = (format!("'{unknown}'"), format!("'{}'", sanitize(word)));
    message.headline = message.headline.replace(&from, &to);
    for tip in &mut message.tips {
        *tip = tip.replace(&format!("'-- {unknown}'"), &format!("'-- {}'", sanitize(word)));
        *tip = tip.replace(&from, &to);
    }
}

/// `porthole free 3000`, as `get-port 3000` is written: a port asked for
/// is `--prefer`, and who holds one is `porthole PORT`.
fn free_port_hint(error: &clap::Error, path: &str) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::UnknownArgument || path != "porthole free" {
        return None;
    }
    let Some(ContextValue::String(word)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let port = crate::target::parse_port(word, crate::target::PortZero::Refused).ok()?;
    Some(format!(
        "porthole free takes no port: '--prefer {port}' prints {port} when it is free, else the \
         nearest free one; 'porthole {port}' says who holds it"
    ))
}

/// `porthole ls 3000` and `porthole 80 443`: ports where `ls` takes them
/// with `--port`, or a second port where `porthole PORT` takes one. The
/// ports typed (the value of an option other than `--port` left out) are
/// named in the `ls --port` that lists them.
fn port_list_hint(error: &clap::Error, path: &str, args: &[OsString]) -> Option<String> {
    use crate::target::PortZero;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let subcommand = path.strip_prefix("porthole ")?;
    if error.kind() != ErrorKind::UnknownArgument || !matches!(subcommand, "ls" | "who") {
        return None;
    }
    let Some(ContextValue::String(word)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let is_ports = |word: &str| crate::model::PortSet::parse_for(word, PortZero::Refused).is_ok();
    if !is_ports(word) {
        return None;
    }
    // The options whose value is no port to list (`--pid 1234`).
    let command = Cli::command();
    let options: Vec<String> = command
        .find_subcommand(subcommand)
        .map(|sub| {
            sub.get_arguments()
                .filter(|arg| arg.get_action().takes_values() && arg.get_id() != "port")
                .flat_map(|arg| {
                    let long = arg.get_long().map(|long| format!("--{long}"));
                    let short = arg.get_short().map(|short| format!("-{short}"));
                    long.into_iter().chain(short)
                })
                .collect()
        })
        .unwrap_or_default();
    let words: Vec<&str> = args.iter().skip(1).filter_map(|arg| arg.to_str()).collect();
    let ports: Vec<&str> = words
        .iter()
        .enumerate()
        .filter(|&(at, word)| {
            is_ports(word) && (at == 0 || !options.iter().any(|option| option == words[at - 1]))
        })
        .map(|(_, word)| word.trim())
        .collect();
    let list = ports.join(",");
    Some(match subcommand {
        "ls" => format!("porthole ls takes ports with --port: 'porthole ls --port {list}'"),
        _ => format!(
            "porthole PORT asks about one port; the listeners on several are listed by \
             'porthole ls --port {list}'"
        ),
    })
}

/// `porthole kill -9 3000`, as kill(1) is written: clap reads `-9` (or the
/// `-K` of `-KILL`) as an unknown flag and would have it passed after `--`,
/// where it is a port. The signal is given with `--signal` here.
fn kill_signal_hint(error: &clap::Error, path: &str, args: &[OsString]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() != ErrorKind::UnknownArgument || path != "porthole kill" {
        return None;
    }
    let Some(ContextValue::String(unknown)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let word = args
        .iter()
        .filter_map(|arg| arg.to_str())
        .find(|word| !word.starts_with("--") && word.starts_with(unknown.as_str()))?;
    let signal = word.strip_prefix('-')?;
    crate::sys::signal::Signal::parse(signal)?;
    Some(format!(
        "the signal is not written '{word}' as for kill(1): give it as '--signal {signal}' (or \
         '-s {signal}'); -4 and -6 select IPv4 and IPv6 listeners"
    ))
}

/// The subcommands named on the command line (`porthole proxy create`) and
/// the clap command they lead to: the command whose `--help` explains the
/// mistake, and whose subcommands a mistyped word is compared with. Words
/// are followed down clap's tree until one is not a subcommand there.
fn subcommand_path(args: &[OsString]) -> (String, clap::Command) {
    let mut command = Cli::command();
    command.build();
    let mut path = vec!["porthole".to_string()];
    for word in args.iter().skip(1).filter_map(|arg| arg.to_str()) {
        if word.starts_with('-') {
            continue;
        }
        if word == "help" {
            // `porthole help WORD`: the help of `porthole` itself.
            break;
        }
        let Some(sub) = command
            .get_subcommands()
            .find(|sub| sub.get_name() == word || sub.get_all_aliases().any(|alias| alias == word))
            .cloned()
        else {
            break;
        };
        path.push(sub.get_name().to_string());
        command = sub;
    }
    (path.join(" "), command)
}

/// A clap error message taken apart: its first line, the indented items
/// under it (missing arguments), the bracketed notes (`[possible values:
/// …]`), the `tip:` lines and the usage lines.
#[derive(Debug, Default)]
struct ClapMessage {
    headline: String,
    items: Vec<String>,
    notes: Vec<String>,
    tips: Vec<String>,
    usage: Vec<String>,
    /// The subcommands given (`porthole proxy create`), for the `--help`
    /// pointer.
    command: String,
}

impl ClapMessage {
    fn parse(rendered: &str) -> Self {
        let mut message = ClapMessage::default();
        let mut in_usage = false;
        for line in rendered.lines() {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                in_usage = false;
                continue;
            }
            if let Some(usage) = trimmed.strip_prefix("Usage:") {
                in_usage = true;
                message.usage.push(usage.trim().to_string());
            } else if in_usage {
                // clap aligns a second usage form under the first.
                message.usage.push(trimmed.to_string());
            } else if trimmed.starts_with("For more information") {
                // Replaced by a `--help` pointer that names the subcommand.
            } else if message.headline.is_empty() {
                message.headline = trimmed.to_string();
            } else if let Some(tip) = trimmed.strip_prefix("tip:") {
                message.tips.push(tip.trim().to_string());
            } else if let Some(note) =
                trimmed.strip_prefix('[').and_then(|note| note.strip_suffix(']'))
            {
                message.notes.push(note.to_string());
            } else {
                message.items.push(trimmed.to_string());
            }
        }
        if message.headline.is_empty() {
            message.headline = "invalid arguments".to_string();
        }
        message
    }

    fn one_line(&self) -> String {
        let mut line = self.headline.trim_end_matches(':').to_string();
        if line == "the following required arguments were not provided" {
            line = "missing".to_string();
        }
        if !self.items.is_empty() {
            line.push_str(if line == "missing" { " " } else { ": " });
            line.push_str(&self.items.join(", "));
        }
        for note in &self.notes {
            line.push_str(&format!(" ({note})"));
        }
        for tip in &self.tips {
            line.push_str(&format!("; {tip}"));
        }
        if !self.usage.is_empty() {
            line.push_str(&format!("; usage: {}", self.usage.join(" | ")));
        }
        let command = if self.command.is_empty() { "porthole" } else { &self.command };
        line.push_str(&format!("; see '{command} --help'"));
        line
    }
}

/// Escapes the words `error` quotes (the unknown argument, the invalid
/// value, the mistyped subcommand) as every other text from outside
/// porthole is. clap strips escape sequences when it renders (so
/// `$'\e[2Jx'` would read as `x`) but passes `\r` and bidi controls
/// through, which can rewrite the line on a terminal.
fn escape_context(error: &mut clap::Error) {
    use clap::error::ContextValue;
    let escaped: Vec<_> = error
        .context()
        .filter_map(|(kind, value)| match value {
            ContextValue::String(text) => {
                Some((kind, ContextValue::String(sanitize(text).into_owned())))
            }
            ContextValue::Strings(texts) => Some((
                kind,
                ContextValue::Strings(
                    texts.iter().map(|text| sanitize(text).into_owned()).collect(),
                ),
            )),
            _ => None,
        })
        .collect();
    for (kind, value) in escaped {
        error.insert(kind, value);
    }
}

/// Whether `word` can be a DNS host name: dot-separated labels of ASCII
/// letters, digits and inner hyphens.
fn is_host_name(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= 253
        && word.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The subcommand of `level` closest to `word` by edit distance, when it
/// is close enough to be a typo (at most a third of the word, and at least
/// one edit): clap's own suggestion misses short words such as `lst`.
/// Aliases count, and so do the words of the level only: `proxy toxic
/// list` is not near the top-level `list`.
fn nearest_subcommand(word: &str, level: &clap::Command) -> Option<String> {
    let limit = (word.chars().count() / 3).max(1);
    level
        .get_subcommands()
        .flat_map(|sub| std::iter::once(sub.get_name()).chain(sub.get_all_aliases()))
        .filter(|name| !name.starts_with('_'))
        .map(|name| (edit_distance(word, name), name.to_string()))
        .filter(|(distance, _)| (1..=limit).contains(distance))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance (insertions, deletions, substitutions).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn normalized(args: &[&str]) -> Vec<String> {
        normalize_args(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn endpoints_get_who_and_subcommands_and_aliases_do_not() {
        assert_eq!(normalized(&["porthole", "5432"]), ["porthole", "who", "5432"]);
        assert_eq!(normalized(&["porthole", "[::1]:80"]), ["porthole", "who", "[::1]:80"]);
        assert_eq!(
            normalized(&["porthole", "localhost:8080"]),
            ["porthole", "who", "localhost:8080"]
        );
        for word in ["ls", "list", "check", "help", "__hold", "chek", "localhost"] {
            assert_eq!(normalized(&["porthole", word]), ["porthole", word], "{word}");
        }
    }

    #[test]
    fn an_endpoint_after_a_double_dash_gets_who() {
        assert_eq!(normalized(&["porthole", "--", "8080"]), ["porthole", "who", "--", "8080"]);
        assert_eq!(normalized(&["porthole", "--", "-1"]), ["porthole", "who", "--", "-1"]);
        assert_eq!(
            normalized(&["porthole", "--", "[::1]:80"]),
            ["porthole", "who", "--", "[::1]:80"]
        );
        // A subcommand after `--` is left to clap.
        assert_eq!(normalized(&["porthole", "--", "ls"]), ["porthole", "--", "ls"]);
    }

    #[test]
    fn flags_of_who_before_the_endpoint_get_who() {
        assert_eq!(normalized(&["porthole", "-t", "53"]), ["porthole", "who", "-t", "53"]);
        assert_eq!(
            normalized(&["porthole", "--json", "-tu", "--netns", "all", "[::1]:80"]),
            ["porthole", "who", "--json", "-tu", "--netns", "all", "[::1]:80"]
        );
        assert_eq!(
            normalized(&["porthole", "--netns=demo", "--", "8080"]),
            ["porthole", "who", "--netns=demo", "--", "8080"]
        );
        // Flags before a subcommand or a non-endpoint stay clap's to judge.
        for args in [
            &["porthole", "--json", "ls"][..],
            &["porthole", "-t"],
            &["porthole", "--json", "localhost"],
            &["porthole", "-h", "80"],
            &["porthole", "--netns"],
        ] {
            assert_eq!(normalized(args), args, "{args:?}");
        }
    }

    #[test]
    fn subcommand_words_come_from_clap() {
        let words = subcommand_words();
        for word in ["ls", "list", "who", "check", "wait", "kill", "free", "audit", "help"] {
            assert!(words.iter().any(|w| w == word), "{word} in {words:?}");
        }
    }

    #[test]
    fn proxy_api_flags_before_the_verb_go_after_it() {
        assert_eq!(
            normalized(&["porthole", "proxy", "--url", "http://h:1", "list", "--json"]),
            ["porthole", "proxy", "list", "--url", "http://h:1", "--json"]
        );
        assert_eq!(
            normalized(&["porthole", "proxy", "--host=http://h:1", "--token", "t", "t", "a", "pg"]),
            ["porthole", "proxy", "t", "a", "--host=http://h:1", "--token", "t", "pg"]
        );
        // `serve` talks to no API: clap refuses the flag where it was typed.
        let serve = ["porthole", "proxy", "--url", "http://h:1", "serve"];
        assert_eq!(normalized(&serve), serve);
        let missing = ["porthole", "proxy", "--url"];
        assert_eq!(normalized(&missing), missing);
        for args in [&serve[..], &missing[..]] {
            let args = normalize_args(args.iter().map(OsString::from));
            assert!(Cli::try_parse_from(&args).is_err(), "{args:?}");
        }
        let parsed = Cli::try_parse_from(normalize_args(
            ["porthole", "proxy", "--timeout", "3s", "inspect", "pg"].map(OsString::from),
        ))
        .expect("parses");
        let Command::Proxy(proxy) = parsed.command else { panic!("not proxy") };
        let args::ProxyCommand::Inspect(inspect) = *proxy.command else { panic!("not inspect") };
        assert_eq!(inspect.api.timeout, "3s");
    }

    fn message(args: &[&str]) -> String {
        let args = normalize_args(args.iter().map(OsString::from));
        let error = Cli::try_parse_from(&args).expect_err("a usage error");
        usage_message(error, &args)
    }

    #[test]
    fn usage_errors_keep_clap_details_on_one_line() {
        let text = message(&["porthole", "kill"]);
        assert_eq!(
            text,
            "porthole: missing <PORT>...; usage: porthole kill <PORT>...; see 'porthole kill --help'\n"
        );
        let text = message(&["porthole", "proxy", "create"]);
        assert!(text.starts_with("porthole: missing --upstream <HOST:PORT>, <NAME>;"), "{text}");
        assert!(text.ends_with("; see 'porthole proxy create --help'\n"), "{text}");
        let text = message(&["porthole", "chek", "8080"]);
        assert!(text.contains("usage: porthole <COMMAND> [ARGS]... | porthole <PORT|HOST:PORT>"));
        assert!(text.ends_with("; see 'porthole --help'\n"), "{text}");
        let text = message(&["porthole", "ls", "--scope", "foo"]);
        assert!(text.ends_with("; see 'porthole ls --help'\n"), "{text}");
        // A typo below the top is compared with that level's words only.
        let text = message(&["porthole", "proxy", "toxic", "updat", "a"]);
        assert!(text.contains("'update'"), "{text}");
        let text = message(&["porthole", "proxy", "toxic", "list", "a"]);
        assert!(!text.contains("similar"), "{text}");
        assert!(!text.contains("PORT"), "no endpoint advice below the top: {text}");
        assert!(text.ends_with("; see 'porthole proxy toxic --help'\n"), "{text}");
        let text = message(&["porthole", "help", "nope"]);
        assert!(text.ends_with("; see 'porthole --help'\n"), "{text}");
        for args in [
            &["porthole", "kill"][..],
            &["porthole", "ls", "--bogus"],
            &["porthole", "ls", "--scope", "foo"],
            &["porthole", "chek", "8080"],
            &["porthole", "localhost"],
            &["porthole", "wait"],
            &["porthole", "free", "--count"],
            &["porthole", "ls", "--json", "--json"],
        ] {
            let text = message(args);
            assert_eq!(text.lines().count(), 1, "{args:?}: {text}");
            assert!(!text.contains("  "), "no layout spaces left: {text}");
        }
        let text = message(&["porthole", "ls", "--scope", "foo"]);
        assert!(text.contains("possible values: loopback, exposed"), "{text}");
        let text = message(&["porthole", "chek", "8080"]);
        assert!(text.contains("'check'"), "{text}");
        let text = message(&["porthole", "lst"]);
        assert!(text.contains("'ls'") || text.contains("'list'"), "{text}");
        assert!(!text.contains("missing port"), "{text}");
        let text = message(&["porthole", "localhost"]);
        assert!(text.contains("porthole localhost:PORT"), "{text}");
        assert!(!text.contains("missing port after"), "{text}");
        // Words that cannot be host names get advice that runs.
        let text = message(&["porthole", ""]);
        assert!(!text.contains("porthole :PORT"), "{text}");
        assert!(text.contains("'porthole PORT'"), "{text}");
        let text = message(&["porthole", "+80"]);
        assert!(!text.contains("+80:PORT"), "{text}");
        assert!(text.contains("'+80' is not a port number"), "{text}");
        let text = message(&["porthole", "my_host!"]);
        assert!(!text.contains("my_host!:PORT"), "{text}");
    }

    #[test]
    fn a_kill_1_signal_flag_is_told_to_use_signal() {
        for (word, signal) in
            [("-9", "9"), ("-KILL", "KILL"), ("-SIGTERM", "SIGTERM"), ("-15", "15")]
        {
            let text = message(&["porthole", "kill", word, "3000"]);
            assert!(
                text.contains(&format!(
                    "the signal is not written '{word}' as for kill(1): give it as \
                     '--signal {signal}' (or '-s {signal}')"
                )),
                "{word}: {text}"
            );
            assert!(!text.contains("'-- "), "{word}: no advice to pass it as a port: {text}");
            assert_eq!(text.lines().count(), 1, "{text}");
        }
        // An unknown flag that is no signal keeps clap's words.
        let text = message(&["porthole", "kill", "-Q", "3000"]);
        assert!(!text.contains("kill(1)"), "{text}");
        // Elsewhere a number flag is not taken for a signal.
        let text = message(&["porthole", "ls", "-9"]);
        assert!(!text.contains("kill(1)"), "{text}");
    }

    #[test]
    fn ports_where_one_or_none_is_taken_are_sent_to_ls_port() {
        for (args, hint) in [
            (&["porthole", "ls", "3000"][..], "'porthole ls --port 3000'"),
            (
                &["porthole", "ls", "--pid", "1234", "80,443", "8000-8100"],
                "'porthole ls --port 80,443,8000-8100'",
            ),
            (&["porthole", "ls", "--port", "80", "443"], "'porthole ls --port 80,443'"),
            (
                &["porthole", "80", "443"],
                "one port; the listeners on several are listed by 'porthole ls --port 80,443'",
            ),
            (&["porthole", "--netns", "5", "80", "443"], "'porthole ls --port 80,443'"),
        ] {
            let text = message(args);
            assert!(text.contains(hint), "{args:?}: {text}");
            assert_eq!(text.lines().count(), 1, "{text}");
        }
        // A word that is no port keeps clap's words alone.
        let text = message(&["porthole", "ls", "foo"]);
        assert!(!text.contains("--port"), "{text}");
    }

    #[test]
    fn a_port_given_to_free_is_told_to_use_prefer() {
        let text = message(&["porthole", "free", "3000"]);
        assert!(
            text.contains(
                "porthole free takes no port: '--prefer 3000' prints 3000 when it is free, else \
                 the nearest free one; 'porthole 3000' says who holds it"
            ),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1, "{text}");
        for other in ["abc", "0", "70000"] {
            let text = message(&["porthole", "free", other]);
            assert!(!text.contains("--prefer"), "{other}: {text}");
        }
    }

    /// Every command's help text after the options, each line no wider than
    /// the 100 columns clap wraps help at: a longer example line would be
    /// broken in the middle, its description run into the next line's
    /// column of commands.
    fn after_help_lines(command: &clap::Command, path: &str, lines: &mut Vec<(String, String)>) {
        if let Some(text) = command.get_after_help() {
            for line in text.to_string().lines() {
                lines.push((path.to_string(), line.to_string()));
            }
        }
        for sub in command.get_subcommands() {
            after_help_lines(sub, &format!("{path} {}", sub.get_name()), lines);
        }
    }

    #[test]
    fn help_text_after_the_options_is_never_rewrapped_by_clap() {
        let mut lines = Vec::new();
        after_help_lines(&Cli::command(), "porthole", &mut lines);
        assert!(lines.iter().any(|(path, _)| path == "porthole wait"), "{lines:?}");
        let long: Vec<_> = lines.iter().filter(|(_, line)| line.chars().count() > 100).collect();
        assert!(long.is_empty(), "lines wider than 100 columns: {long:#?}");
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("chek", "check"), 1);
        assert_eq!(edit_distance("lst", "ls"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let mut top = Cli::command();
        top.build();
        assert_eq!(nearest_subcommand("kil", &top).as_deref(), Some("kill"));
        assert_eq!(nearest_subcommand("localhost", &top), None);
        assert_eq!(nearest_subcommand("kill", &top), None, "the word itself is no typo");
    }
}
