//! `file-server`: an HTTP server hands out a directory: it answered `/`
//! with a listing, or a secret path (`/.ssh/id_ed25519`, `/.git/config`,
//! `/.env`…) with a file of its kind. Whoever reaches the port reads them:
//! other devices when it is exposed (Python's `http.server` binds every
//! interface by default), and any web page through DNS rebinding when it
//! is on loopback. Graded by what answered times who reaches it.

use super::Context;
use crate::audit::file_server_options::{option_value, Program};
use crate::audit::probes::files::FileServer;
use crate::audit::probes::Observation;
use crate::model::{Finding, Process, RuleId, Severity};
use crate::shell::printable_word;

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    let Some(found) = context.observations().iter().find_map(|o| match o {
        Observation::FileServer(found) => Some(found),
        _ => None,
    }) else {
        return Vec::new();
    };
    let network = context.reachable_from_network();
    let severity = match (!found.secrets.is_empty(), network) {
        (true, true) => Severity::Critical,
        (true, false) => Severity::High,
        (false, true) => Severity::Medium,
        (false, false) => Severity::Low,
    };
    vec![context.finding(
        RuleId::FileServer,
        severity,
        evidence(context, found),
        fix(context, found),
    )]
}

/// What answered, what it serves and who reaches it; never a file's
/// contents.
fn evidence(context: &Context<'_>, found: &FileServer) -> String {
    let mut parts = Vec::new();
    if let Some(listing) = &found.listing {
        let more = if listing.total > listing.entries.len() { ", …" } else { "" };
        let names = if listing.entries.is_empty() {
            "no entries".to_string()
        } else {
            let noun = if listing.total == 1 { "entry" } else { "entries" };
            format!("{} {noun}: {}{more}", listing.total, listing.entries.join(", "))
        };
        parts.push(format!("GET / → a directory listing ({}) with {names}", listing.page));
    }
    for secret in &found.secrets {
        let size =
            secret.size.map_or_else(|| "size not given".into(), |size| format!("{size} bytes"));
        parts.push(format!("GET {} → {}, {size} ({})", secret.path, secret.status, secret.what));
    }
    if found.catch_all {
        parts.push(
            "a path that holds nothing answers 200 too: only answers that start like their file count"
                .into(),
        );
    }
    if let Some(directory) = context.outcome.and_then(|o| o.served_directory.as_ref()) {
        parts.push(format!("it serves {} ({})", directory.path, directory.source));
    }
    parts.push(if context.reachable_from_network() {
        format!("other devices reach it ({})", context.firewall_text)
    } else if context.exposed() {
        format!("its port is closed to other devices ({}); local users and web pages (DNS rebinding) read it", context.firewall_text)
    } else {
        "on loopback: local users and web pages (DNS rebinding) read it".into()
    });
    parts.join("; ")
}

/// The fix of the server that answered: a Python or PHP server started
/// again on loopback from its own command line, nginx's `autoindex on;`
/// lines turned off, and what to move out of the served directory.
fn fix(context: &Context<'_>, found: &FileServer) -> String {
    let directory = context.outcome.and_then(|o| o.served_directory.as_ref());
    // As names in the directory; a file under a directory that answered
    // goes with it.
    let paths: Vec<&str> = found.secrets.iter().map(|s| s.path.trim_start_matches('/')).collect();
    let secrets: Vec<&str> = paths
        .iter()
        .filter(|path| {
            !paths
                .iter()
                .any(|other| other != *path && other.ends_with('/') && path.starts_with(other))
        })
        .copied()
        .collect();
    let move_out = (!secrets.is_empty()).then(|| {
        let from = directory.map_or_else(|| "the served directory".into(), |d| d.path.clone());
        format!("move {} out of {from}", secrets.join(", "))
    });
    let owner = context
        .target
        .owners
        .iter()
        .find_map(|p| Program::of(&p.cmdline).map(|program| (p, program)));
    if let Some((process, program @ (Program::Python | Program::Php))) = owner {
        let narrower = match program {
            Program::Python => "`--directory` of a narrower directory that holds nothing secret",
            _ => "`-t` with a narrower directory that holds nothing secret",
        };
        let working = directory.and_then(|d| d.working_directory.as_deref());
        let mut steps = Vec::new();
        if context.exposed() {
            let line = process.start_command(
                &on_loopback(process, program, context.target.port),
                working,
                context.caller_uid,
            );
            let start = match working {
                Some(_) => format!("`{line}`"),
                None => format!("from the directory it ran in, `{line}`"),
            };
            steps.push(format!("`kill {}`, then start it on loopback: {start}", process.pid));
        } else {
            steps.push(format!(
                "stop it once done (`kill {}`): a web page reaches a server on loopback through DNS rebinding",
                process.pid
            ));
        }
        steps.extend(move_out);
        steps.push(format!("serve only what is meant to be read ({narrower})"));
        return steps.join("; ");
    }
    if context.target.owners.iter().any(|p| p.name == "nginx")
        || context
            .outcome
            .and_then(|o| o.version.as_deref())
            .is_some_and(|v| v.starts_with("nginx"))
    {
        return nginx_fix(context, found, move_out);
    }
    let mut steps =
        vec!["turn its directory listing off and serve only a directory that holds nothing secret"
            .to_string()];
    if context.exposed() {
        steps.push("bind it to 127.0.0.1".into());
    }
    steps.extend(move_out);
    steps.join("; ")
}

/// `autoindex off` on the lines nginx -T named (a `sed` per file), a
/// rule that refuses dot files when secrets answered, and the reload.
fn nginx_fix(context: &Context<'_>, found: &FileServer, move_out: Option<String>) -> String {
    let lines = context.outcome.map_or(&[][..], |o| o.autoindex_lines.as_slice());
    let reload = super::dns_rebinding::nginx_reload(context);
    let mut steps = Vec::new();
    if found.listing.is_some() {
        let mut files: Vec<(&str, Vec<usize>)> = Vec::new();
        for (file, line) in lines {
            match files.iter_mut().find(|(f, _)| f == file) {
                Some((_, numbers)) => numbers.push(*line),
                None => files.push((file, vec![*line])),
            }
        }
        if files.is_empty() {
            steps.push("set `autoindex off;` where nginx's configuration turns it on (`nginx -T` prints every file it reads)".to_string());
        } else {
            let commands: Vec<String> = files
                .iter()
                .map(|(file, numbers)| {
                    let edits: Vec<String> = numbers
                        .iter()
                        .map(|n| format!("-e '{n}s/autoindex[[:space:]]*on/autoindex off/'"))
                        .collect();
                    format!("sed -i {} {}", edits.join(" "), printable_word(file))
                })
                .collect();
            steps.push(format!("turn the listing off: `{}`", commands.join(" && ")));
        }
    }
    if move_out.is_some() {
        steps.push("refuse dot files in its server block (`location ~ /\\. { deny all; }`)".into());
    }
    steps.extend(move_out);
    format!("{}, then {reload}", steps.join("; "))
}

/// `process`'s command line with its address replaced by 127.0.0.1: for
/// Python, without `--bind`/`-b` and with `--bind 127.0.0.1`; for PHP, the
/// `-S` address.
fn on_loopback(process: &Process, program: Program, port: u16) -> String {
    let flags: &[&str] = match program {
        Program::Python => &["--bind", "-b"],
        _ => &["-S"],
    };
    let replacement = match program {
        Program::Python => "--bind 127.0.0.1".to_string(),
        _ => format!("-S 127.0.0.1:{port}"),
    };
    let mut words: Vec<String> = Vec::new();
    let mut given = process.cmdline.iter();
    words.extend(given.next().map(|program| printable_word(program).into_owned()));
    let mut replaced = false;
    while let Some(word) = given.next() {
        // `--bind ADDRESS`, `--bind=ADDRESS`, `-bADDRESS`.
        let separate = flags.contains(&word.as_str());
        let joined = option_value(&[String::new(), word.clone()], flags).is_some();
        if separate || joined {
            if separate {
                given.next();
            }
            if !replaced && program == Program::Php {
                words.push(replacement.clone());
            }
            replaced = true;
            continue;
        }
        words.push(printable_word(word).into_owned());
    }
    if program == Program::Python {
        words.push(replacement);
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::file_server_options::ServedDirectory;
    use crate::audit::probes::files::{Listing, ServedSecret};
    use crate::audit::rules::testing::*;

    fn file_server(secrets: bool) -> Observation {
        Observation::FileServer(FileServer {
            listing: Some(Listing {
                page: "Python http.server".into(),
                entries: vec![".ssh/".into(), "a\u{1b}[2Jb".into()],
                total: 2,
            }),
            secrets: if secrets {
                vec![ServedSecret {
                    path: "/.ssh/id_ed25519",
                    what: "an SSH private key",
                    status: 200,
                    size: Some(411),
                }]
            } else {
                Vec::new()
            },
            catch_all: false,
        })
    }

    fn python(address: &str) -> crate::audit::Target {
        let mut target = target(address, 8000);
        target.owners[0].name = "python3".into();
        // The caller's own (see `context`: root).
        target.owners[0].uid = 0;
        target.owners[0].cmdline = "/usr/bin/python3 -m http.server 8000 -b 0.0.0.0"
            .split(' ')
            .map(String::from)
            .collect();
        target
    }

    fn served(outcome: &mut crate::audit::probes::Outcome) {
        outcome.served_directory = Some(ServedDirectory {
            path: "/home/dev".into(),
            source: "its working directory".into(),
            working_directory: Some("/home/dev".into()),
        });
    }

    #[test]
    fn graded_by_what_answered_and_who_reaches_it() {
        let grade = |address: &str, secrets: bool| {
            let target = python(address);
            let outcome = outcome("http", vec![file_server(secrets)]);
            check(&context(&target, Some(&outcome)))[0].severity
        };
        assert_eq!(grade("127.0.0.1", false), Severity::Low);
        assert_eq!(grade("0.0.0.0", false), Severity::Medium);
        assert_eq!(grade("127.0.0.1", true), Severity::High);
        assert_eq!(grade("0.0.0.0", true), Severity::Critical);
        // A firewall that drops the port leaves the loopback grade.
        let target = python("0.0.0.0");
        let secrets = outcome("http", vec![file_server(true)]);
        let mut blocked = context(&target, Some(&secrets));
        blocked.firewall = crate::audit::firewall::Verdict::Blocked;
        assert_eq!(check(&blocked)[0].severity, Severity::High);
        let plain = outcome("http", Vec::new());
        assert!(check(&context(&target, Some(&plain))).is_empty());
    }

    #[test]
    fn evidence_names_paths_and_sizes_and_the_served_directory() {
        let target = python("0.0.0.0");
        let mut outcome = outcome("http", vec![file_server(true)]);
        served(&mut outcome);
        let finding = &check(&context(&target, Some(&outcome)))[0];
        assert!(finding.evidence.contains("2 entries: .ssh/, a\u{1b}[2Jb"), "{}", finding.evidence);
        assert!(finding
            .evidence
            .contains("GET /.ssh/id_ed25519 → 200, 411 bytes (an SSH private key)"));
        assert!(finding.evidence.contains("it serves /home/dev (its working directory)"));
    }

    #[test]
    fn a_python_server_is_started_again_on_loopback_from_its_own_command_line() {
        let target = python("0.0.0.0");
        let mut outcome = outcome("http", vec![file_server(true)]);
        served(&mut outcome);
        let fix = &check(&context(&target, Some(&outcome)))[0].fix;
        assert!(
            fix.starts_with("`kill 42`, then start it on loopback: `cd /home/dev && /usr/bin/python3 -m http.server 8000 --bind 127.0.0.1`"),
            "{fix}"
        );
        assert!(fix.contains("move .ssh/id_ed25519 out of /home/dev"), "{fix}");
        assert!(fix.contains("(`--directory` of a narrower directory"), "{fix}");
        let mut joined = python("0.0.0.0");
        joined.owners[0].cmdline =
            ["python3", "-m", "http.server", "--bind=0.0.0.0", "9000"].map(String::from).to_vec();
        let fix = &check(&context(&joined, Some(&outcome)))[0].fix;
        assert!(
            fix.contains("`cd /home/dev && python3 -m http.server 9000 --bind 127.0.0.1`"),
            "{fix}"
        );
        let loopback = python("127.0.0.1");
        let fix = &check(&context(&loopback, Some(&outcome)))[0].fix;
        assert!(fix.starts_with("stop it once done (`kill 42`)"), "{fix}");
        // Another user's server is started again as that user.
        let mut theirs = python("0.0.0.0");
        theirs.owners[0].uid = 1000;
        theirs.owners[0].user = Some("dev".into());
        let fix = &check(&context(&theirs, Some(&outcome)))[0].fix;
        assert!(
            fix.contains("`cd /home/dev && runuser -u dev -- /usr/bin/python3 -m http.server 8000 --bind 127.0.0.1`"),
            "{fix}"
        );
    }

    #[test]
    fn php_keeps_its_port_on_loopback() {
        let mut target = target("0.0.0.0", 8000);
        target.owners[0].cmdline =
            ["php", "-S", "0.0.0.0:8000", "-t", "public"].map(String::from).to_vec();
        assert_eq!(
            on_loopback(&target.owners[0], Program::Php, 8000),
            "php -S 127.0.0.1:8000 -t public"
        );
    }

    #[test]
    fn nginx_turns_autoindex_off_on_the_lines_it_reads() {
        let mut target = target("0.0.0.0", 8080);
        target.owners[0].name = "nginx".into();
        target.owners[0].cmdline =
            ["nginx:", "master", "process", "nginx", "-c", "/etc/nginx/nginx.conf"]
                .map(String::from)
                .to_vec();
        let mut outcome = outcome("http", vec![file_server(false)]);
        outcome.autoindex_lines = vec![("/etc/nginx/sites-enabled/files".into(), 6)];
        let fix = &check(&context(&target, Some(&outcome)))[0].fix;
        assert_eq!(
            fix,
            "turn the listing off: `sed -i -e '6s/autoindex[[:space:]]*on/autoindex off/' /etc/nginx/sites-enabled/files`, then `kill -HUP 42` (the nginx master: it reloads)"
        );
    }
}
