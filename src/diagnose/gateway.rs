//! Reverse proxies that answer for a service behind them: nginx. A `502 Bad
//! Gateway`, `503` or `504 Gateway Timeout` from nginx says only that what
//! it forwards to failed; the address it forwards to is in its
//! configuration. This module reads that configuration as nginx does (the
//! master's `-c` file, `include`s expanded), picks the `server` and
//! `location` that took the request, and names the upstream (`proxy_pass`,
//! `fastcgi_pass`, `uwsgi_pass`, `scgi_pass`, `grpc_pass`, through an
//! `upstream` block), or the `return` that answered. `causes` then probes
//! that upstream as `check` would and blames it.
//!
//! Reading is at the edge ([`read_config`], [`last_upstream_error`]); the
//! parser and [`route`] are pure and tested on text.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::inventory::system::System;
use crate::model::Process;

/// nginx's own configuration file when no `-c` is given (Debian's,
/// Fedora's and the upstream packages').
const DEFAULT_CONFIG: &str = "/etc/nginx/nginx.conf";
/// A configuration file larger than this is not nginx's.
const FILE_LIMIT: u64 = 1 << 20;
/// `include`s nested deeper than this, or more files than
/// [`FILES_LIMIT`], are left out (a loop of includes would never end).
const DEPTH_LIMIT: usize = 8;
const FILES_LIMIT: usize = 256;
/// The error log is read whole only below this size.
const LOG_LIMIT: u64 = 16 << 20;

/// One directive of an nginx configuration, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    /// The directives of its `{ … }` block, `None` for one ended by `;`.
    pub block: Option<Vec<Directive>>,
    pub file: String,
    pub line: usize,
}

impl Directive {
    /// Where it is written, as `FILE line N`.
    pub fn place(&self) -> String {
        format!("{} line {}", self.file, self.line)
    }

    /// The directive and its arguments as written (without quotes).
    pub fn text(&self) -> String {
        std::iter::once(self.name.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or_default()
    }
}

/// The nginx master process behind a listener and its configuration.
#[derive(Debug, Clone)]
pub struct Nginx {
    /// The master (or the only process, with `master_process off`).
    pub pid: u32,
    /// The configuration file (`-c`), as the process sees it.
    pub config: String,
    /// The prefix (`-p`) relative paths of the configuration start from.
    pub prefix: Option<String>,
    /// Prepended to every path read: `/proc/PID/root` for a master in
    /// another mount namespace (a container), empty otherwise.
    pub root: String,
}

/// The master's `-c` and `-p` from its command line. nginx rewrites its
/// command line into one string, `nginx: master process nginx -c FILE`;
/// with `master_process off` it is the original arguments.
pub fn command_line_options(cmdline: &[String]) -> Option<(String, Option<String>)> {
    let joined = cmdline.join(" ");
    let rest = joined.strip_prefix("nginx: master process ").unwrap_or(&joined);
    let mut words = rest.split_whitespace();
    let program = words.next()?;
    if program.rsplit('/').next() != Some("nginx") {
        return None;
    }
    let (mut config, mut prefix) = (None, None);
    while let Some(word) = words.next() {
        // `-c FILE` and `-cFILE` are both taken.
        let mut value = |flag: &str| match word.strip_prefix(flag) {
            Some("") => words.next().map(str::to_string),
            Some(attached) => Some(attached.to_string()),
            None => None,
        };
        if let Some(file) = value("-c") {
            config = Some(file);
        } else if let Some(directory) = value("-p") {
            prefix = Some(directory);
        }
    }
    let prefix = prefix.map(|p| p.trim_end_matches('/').to_string());
    let config = match config {
        Some(file) if file.starts_with('/') => file,
        // A relative `-c` starts from the prefix.
        Some(file) => format!("{}/{file}", prefix.as_deref()?),
        None => DEFAULT_CONFIG.to_string(),
    };
    Some((config, prefix))
}

/// The nginx among the owners of a listener: a worker stands for its
/// master, whose command line names the configuration.
pub fn nginx_of(system: &dyn System, owners: &[&Process]) -> Option<Nginx> {
    owners.iter().filter(|p| p.name == "nginx").find_map(|process| {
        let master = if process.cmdline.join(" ").contains("worker process") {
            system.process(process.parent_pid).filter(|parent| parent.name == "nginx")?
        } else {
            (*process).clone()
        };
        let (config, prefix) = command_line_options(&master.cmdline)?;
        let root = if master.exe_other_mount_namespace {
            format!("/proc/{}/root", master.pid)
        } else {
            String::new()
        };
        Some(Nginx { pid: master.pid, config, prefix, root })
    })
}

/// Splits nginx configuration text into tokens with their line numbers:
/// words (quotes removed), `;`, `{` and `}`; `#` starts a comment.
fn tokens(text: &str) -> Vec<(String, usize, bool)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut word = String::new();
    let mut word_line = 1;
    let flush = |word: &mut String, out: &mut Vec<(String, usize, bool)>, at: usize| {
        if !word.is_empty() {
            out.push((std::mem::take(word), at, true));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                flush(&mut word, &mut out, word_line);
                line += 1;
            }
            c if c.is_whitespace() => flush(&mut word, &mut out, word_line),
            '#' if word.is_empty() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            ';' | '{' | '}' if !(c == '{' && word.ends_with('$')) => {
                // `${name}` is a variable inside a word, not a block.
                if c == '}' && word.contains("${") && !word.ends_with('}') {
                    word.push(c);
                    continue;
                }
                flush(&mut word, &mut out, word_line);
                out.push((c.to_string(), line, false));
            }
            '"' | '\'' if word.is_empty() => {
                word_line = line;
                let mut quoted = String::new();
                while let Some(inner) = chars.next() {
                    match inner {
                        '\\' => quoted.extend(chars.next()),
                        '\n' => {
                            line += 1;
                            quoted.push(inner);
                        }
                        _ if inner == c => break,
                        _ => quoted.push(inner),
                    }
                }
                out.push((quoted, word_line, true));
            }
            _ => {
                if word.is_empty() {
                    word_line = line;
                }
                word.push(c);
            }
        }
    }
    flush(&mut word, &mut out, word_line);
    out
}

/// Parses one file's text; `include` directives are kept as they are
/// ([`read_config`] expands them).
pub fn parse(text: &str, file: &str) -> Vec<Directive> {
    fn block(
        tokens: &mut std::iter::Peekable<std::vec::IntoIter<(String, usize, bool)>>,
        file: &str,
    ) -> Vec<Directive> {
        let mut directives = Vec::new();
        while let Some((name, line, word)) = tokens.next() {
            if !word {
                if name == "}" {
                    break;
                }
                continue;
            }
            let mut args = Vec::new();
            let mut inner = None;
            while let Some((token, _, word)) = tokens.next() {
                match (word, token.as_str()) {
                    (true, _) => args.push(token),
                    (false, "{") => {
                        inner = Some(block(tokens, file));
                        break;
                    }
                    _ => break,
                }
            }
            directives.push(Directive { name, args, block: inner, file: file.to_string(), line });
        }
        directives
    }
    block(&mut tokens(text).into_iter().peekable(), file)
}

/// Whether `name` matches a shell pattern of `*` and `?` (what `include`
/// globs use in practice).
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_matches(&pattern[1..], name)
                || (!name.is_empty() && glob_matches(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_matches(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_matches(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The whole configuration of `nginx`: its file parsed, each `include`
/// replaced by the directives of the files it names (relative to the
/// configuration's directory, globs in the last component). `None` when the
/// main file cannot be read.
pub fn read_config(system: &dyn System, nginx: &Nginx) -> Option<Vec<Directive>> {
    let directory = nginx.config.rsplit_once('/').map_or(".", |(dir, _)| dir).to_string();
    let mut files = 0;
    let read = |path: &str| system.read_regular(&format!("{}{path}", nginx.root), FILE_LIMIT);
    let text = read(&nginx.config)?;
    let top = parse(&String::from_utf8_lossy(&text), &nginx.config);
    fn expand(
        directives: Vec<Directive>,
        depth: usize,
        files: &mut usize,
        directory: &str,
        system: &dyn System,
        root: &str,
    ) -> Vec<Directive> {
        let mut out = Vec::new();
        for mut directive in directives {
            if directive.name == "include" && directive.block.is_none() && depth < DEPTH_LIMIT {
                let Some(pattern) = directive.args.first() else { continue };
                let pattern = if pattern.starts_with('/') {
                    pattern.clone()
                } else {
                    format!("{directory}/{pattern}")
                };
                let (dir, last) = pattern.rsplit_once('/').unwrap_or((".", &pattern));
                let paths: Vec<String> = if last.contains(['*', '?']) {
                    let mut names: Vec<String> = system
                        .directory_times(&format!("{root}{dir}"))
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(name, _)| name)
                        .filter(|name| glob_matches(last.as_bytes(), name.as_bytes()))
                        .collect();
                    names.sort();
                    names.into_iter().map(|name| format!("{dir}/{name}")).collect()
                } else {
                    vec![pattern.clone()]
                };
                for path in paths {
                    *files += 1;
                    if *files > FILES_LIMIT {
                        break;
                    }
                    let Some(text) = system.read_regular(&format!("{root}{path}"), FILE_LIMIT)
                    else {
                        continue;
                    };
                    let parsed = parse(&String::from_utf8_lossy(&text), &path);
                    out.extend(expand(parsed, depth + 1, files, directory, system, root));
                }
                continue;
            }
            if let Some(block) = directive.block.take() {
                directive.block = Some(expand(block, depth, files, directory, system, root));
            }
            out.push(directive);
        }
        out
    }
    Some(expand(top, 0, &mut files, &directory, system, &nginx.root))
}

/// What nginx does with the request, per its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// A `*_pass` directive forwards it.
    Pass(Box<Pass>),
    /// A `return STATUS` answers it.
    Return(Directive),
}

/// An upstream a request is forwarded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// The `proxy_pass` (or `fastcgi_pass`…) directive.
    pub directive: Directive,
    /// The `upstream NAME { … }` block it names, if any.
    pub group: Option<Directive>,
    /// Where the request goes, one per `server` of the group.
    pub upstreams: Vec<Upstream>,
    /// The timeout that ends a wait for the upstream's answer
    /// (`proxy_read_timeout`…), when set; nginx's default is 60s.
    pub read_timeout: Option<Directive>,
    /// `limit_req` or `limit_conn` in force there: they answer 503 (their
    /// default status) when the client is over the limit.
    pub limits: Vec<Directive>,
}

impl Pass {
    /// `proxy`, `fastcgi`, `uwsgi`…: the prefix of its settings' names.
    pub fn kind(&self) -> &str {
        self.directive.name.trim_end_matches("_pass")
    }
}

/// One upstream address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// A `check` target for it (`http://127.0.0.1:9000/path`,
    /// `127.0.0.1:9000`, `unix:/run/php/fpm.sock`), on this machine.
    Local(String),
    /// Written so that porthole cannot or does not probe it (another host,
    /// a name it would resolve, a variable).
    Other(String),
}

/// The port and address a `listen` directive's first argument names
/// (`8080`, `127.0.0.1:8080`, `[::]:80`, `*:80`, `localhost`); `None` for
/// a Unix socket.
fn listen_address(arg: &str) -> Option<(Option<IpAddr>, u16)> {
    if arg.starts_with("unix:") {
        return None;
    }
    if let Ok(port) = arg.parse::<u16>() {
        return Some((None, port));
    }
    let (host, port) = match arg.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') || host.starts_with('[') => {
            (host, port.parse().ok()?)
        }
        _ => (arg, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "*" => None,
        _ => match host.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => None,
            Ok(ip) => Some(ip),
            // A name: nginx binds what it resolves to; take it as serving.
            Err(_) => None,
        },
    };
    Some((ip, port))
}

/// Whether a `server_name` entry matches the request's host.
fn name_matches(pattern: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    if let Some(regex) = pattern.strip_prefix('~') {
        return regex_lite::Regex::new(regex).is_ok_and(|re| re.is_match(&host));
    }
    if let Some(suffix) = pattern.strip_prefix('.') {
        return host == suffix || host.ends_with(&format!(".{suffix}"));
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return host.ends_with(suffix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return host.starts_with(prefix);
    }
    pattern == host
}

/// The `location` of `directives` (and of the locations nested in it) that
/// takes `path`, as nginx picks it: an exact `=` match, else the longest
/// prefix, unless that is not `^~` and a regular expression matches.
fn location<'a>(directives: &'a [Directive], path: &str) -> Option<&'a Directive> {
    let locations = || directives.iter().filter(|d| d.name == "location" && d.block.is_some());
    let mut longest: Option<(&Directive, usize, bool)> = None;
    for candidate in locations() {
        let (prefix, stops) = match candidate.args.as_slice() {
            [modifier, uri] if modifier == "=" && uri == path => return Some(candidate),
            [modifier, prefix] if modifier == "^~" => (prefix, true),
            [prefix] if !prefix.starts_with('@') => (prefix, false),
            _ => continue,
        };
        if path.starts_with(prefix.as_str())
            && longest.is_none_or(|(_, length, _)| prefix.len() > length)
        {
            longest = Some((candidate, prefix.len(), stops));
        }
    }
    let nested = |found: &'a Directive| location(found.children(), path).or(Some(found));
    if let Some((found, _, true)) = longest {
        return nested(found);
    }
    let by_regex = locations().find(|candidate| match candidate.args.as_slice() {
        [modifier, pattern] if modifier == "~" || modifier == "~*" => {
            let pattern = if modifier == "~*" { format!("(?i){pattern}") } else { pattern.clone() };
            regex_lite::Regex::new(&pattern).is_ok_and(|re| re.is_match(path))
        }
        _ => false,
    });
    match by_regex {
        Some(found) => Some(found),
        None => longest.and_then(|(found, _, _)| nested(found)),
    }
}

/// The last directive named `name` in the first of `scopes` (innermost
/// first) that has one: how nginx inherits a setting.
fn inherited<'a>(scopes: &[&'a [Directive]], name: &str) -> Option<&'a Directive> {
    scopes.iter().find_map(|scope| scope.iter().rev().find(|d| d.name == name))
}

/// Where `config` sends a request for `path` with `Host: host` that
/// arrived at `local` (the listener's address and port).
pub fn route(config: &[Directive], local: SocketAddr, host: &str, path: &str) -> Option<Handler> {
    let http = config.iter().find(|d| d.name == "http")?;
    let serves = |server: &&Directive| {
        let listens: Vec<&Directive> =
            server.children().iter().filter(|d| d.name == "listen").collect();
        if listens.is_empty() {
            return local.port() == 80;
        }
        listens.iter().any(|listen| {
            listen.args.first().and_then(|arg| listen_address(arg)).is_some_and(|(ip, port)| {
                port == local.port() && ip.is_none_or(|ip| same_ip(ip, local.ip()))
            })
        })
    };
    let servers: Vec<&Directive> =
        http.children().iter().filter(|d| d.name == "server").filter(serves).collect();
    let named = servers.iter().find(|server| {
        server
            .children()
            .iter()
            .filter(|d| d.name == "server_name")
            .any(|d| d.args.iter().any(|name| name_matches(name, host)))
    });
    let default = servers.iter().find(|server| {
        server
            .children()
            .iter()
            .any(|d| d.name == "listen" && d.args.iter().skip(1).any(|arg| arg == "default_server"))
    });
    let server = named.or(default).or(servers.first())?;
    let location = location(server.children(), path);
    let mut scopes: Vec<&[Directive]> = Vec::new();
    if let Some(location) = location {
        scopes.push(location.children());
    }
    scopes.push(server.children());
    scopes.push(http.children());
    // A `return` (or a pass) of the location answers; one of the server
    // runs before any location is chosen.
    let handler_in = |scope: &[Directive]| {
        scope.iter().find(|d| d.name == "return" || d.name.ends_with("_pass")).cloned()
    };
    let found = handler_in(server.children())
        .filter(|d| d.name == "return")
        .or_else(|| location.and_then(|l| handler_in(l.children())))?;
    if found.name == "return" {
        return Some(Handler::Return(found));
    }
    let kind = found.name.trim_end_matches("_pass").to_string();
    let read_timeout = inherited(&scopes, &format!("{kind}_read_timeout")).cloned();
    let limits = ["limit_req", "limit_conn"]
        .iter()
        .filter_map(|name| inherited(&scopes, name).cloned())
        .collect();
    let (group, upstreams) = upstreams_of(http, &found, location, path);
    Some(Handler::Pass(Box::new(Pass { directive: found, group, upstreams, read_timeout, limits })))
}

fn same_ip(listen: IpAddr, local: IpAddr) -> bool {
    let canonical = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    canonical(listen) == canonical(local)
}

/// The upstream addresses a pass directive names, through an `upstream`
/// block when it names one. An HTTP upstream's target carries the path
/// nginx asks it for: the request's, or with a URI in `proxy_pass`, that
/// URI in place of the location's prefix.
fn upstreams_of(
    http: &Directive,
    pass: &Directive,
    location: Option<&Directive>,
    path: &str,
) -> (Option<Directive>, Vec<Upstream>) {
    let Some(written) = pass.args.first() else { return (None, Vec::new()) };
    if written.contains('$') {
        return (None, vec![Upstream::Other(written.clone())]);
    }
    let (scheme, rest) = match written.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, written.as_str()),
    };
    let (authority, uri) = if let Some(socket) = rest.strip_prefix("unix:") {
        // `http://unix:/run/app.sock:/uri`.
        match socket.split_once(':') {
            Some((socket, uri)) => (format!("unix:{socket}"), Some(uri.to_string())),
            None => (format!("unix:{socket}"), None),
        }
    } else {
        match rest.find('/') {
            Some(slash) => (rest[..slash].to_string(), Some(rest[slash..].to_string())),
            None => (rest.to_string(), None),
        }
    };
    // The path nginx asks an HTTP upstream for.
    let asked = match (uri, location.and_then(|l| l.args.last())) {
        (None, _) => path.to_string(),
        (Some(uri), Some(prefix)) if location.is_some_and(|l| l.args.len() == 1) => {
            format!("{uri}{}", path.strip_prefix(prefix.as_str()).unwrap_or(""))
        }
        (Some(uri), _) => uri,
    };
    let default_port = match scheme.as_deref() {
        Some("https") | Some("grpcs") => 443,
        _ => 80,
    };
    let target = |address: &str| -> Upstream {
        if let Some(socket) = address.strip_prefix("unix:") {
            return Upstream::Local(format!("unix:{socket}"));
        }
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') || host.starts_with('[') => {
                match port.parse::<u16>() {
                    Ok(port) => (host, port),
                    Err(_) => return Upstream::Other(address.to_string()),
                }
            }
            _ => (address, default_port),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let local = match bare.parse::<IpAddr>() {
            Ok(ip) => crate::model::is_loopback(ip) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST),
            Err(_) => bare.eq_ignore_ascii_case("localhost"),
        };
        if !local {
            return Upstream::Other(format!("{host}:{port}"));
        }
        match scheme.as_deref() {
            Some(scheme @ ("http" | "https")) => {
                Upstream::Local(format!("{scheme}://{host}:{port}{asked}"))
            }
            _ => Upstream::Local(format!("{host}:{port}")),
        }
    };
    let group = http
        .children()
        .iter()
        .find(|d| d.name == "upstream" && d.args.first() == Some(&authority) && d.block.is_some());
    match group {
        Some(group) => {
            let upstreams = group
                .children()
                .iter()
                .filter(|d| d.name == "server")
                .filter_map(|d| d.args.first())
                .map(|address| target(address))
                .collect();
            (Some(group.clone()), upstreams)
        }
        None => (None, vec![target(&authority)]),
    }
}

/// The error log nginx writes, from the configuration's top-level
/// `error_log` (relative to the prefix); `None` for `stderr`, syslog or
/// none.
pub fn error_log(config: &[Directive], nginx: &Nginx) -> Option<String> {
    let path = config.iter().rev().find(|d| d.name == "error_log")?.args.first()?;
    if path == "stderr" || path.starts_with("syslog:") || path.starts_with("memory:") {
        return None;
    }
    if path.starts_with('/') {
        Some(path.clone())
    } else {
        Some(format!("{}/{path}", nginx.prefix.as_deref()?))
    }
}

/// The last line of the error log about an upstream of a request with
/// `Host: host_header` (nginx writes `…, upstream: "…", host: "…"`).
pub fn last_upstream_error(
    system: &dyn System,
    nginx: &Nginx,
    log: &str,
    host_header: &str,
) -> Option<String> {
    let text = system.read_regular(&format!("{}{log}", nginx.root), LOG_LIMIT)?;
    let host = format!("host: \"{host_header}\"");
    String::from_utf8_lossy(&text)
        .lines()
        .rev()
        .find(|line| line.contains("upstream") && line.contains(&host))
        .map(str::to_string)
}

thread_local! {
    /// Set while an upstream is being diagnosed on this thread.
    static INSIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `diagnose` (of an upstream) unless this thread is already inside
/// one: an upstream that is another nginx, or the same one (a `proxy_pass`
/// to its own port), is named but not followed, so the diagnosis ends.
pub fn outermost<T>(diagnose: impl FnOnce() -> T) -> Option<T> {
    if INSIDE.get() {
        return None;
    }
    INSIDE.set(true);
    let result = diagnose();
    INSIDE.set(false);
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        vec![text.to_string()]
    }

    #[test]
    fn the_master_names_its_configuration_and_prefix() {
        let master = words("nginx: master process /usr/sbin/nginx -c /srv/site/nginx.conf -p /srv");
        assert_eq!(
            command_line_options(&master),
            Some(("/srv/site/nginx.conf".into(), Some("/srv".into())))
        );
        let packaged =
            words("nginx: master process /usr/sbin/nginx -g daemon on; master_process on;");
        assert_eq!(command_line_options(&packaged), Some((DEFAULT_CONFIG.into(), None)));
        let single: Vec<String> =
            ["nginx", "-cconf/n.conf", "-p", "/opt/ng/"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            command_line_options(&single),
            Some(("/opt/ng/conf/n.conf".into(), Some("/opt/ng".into())))
        );
        assert_eq!(command_line_options(&words("python3 -c nginx")), None);
    }

    const SITE: &str = r#"
error_log /var/log/site/error.log;
http {
    # comment { with braces }
    proxy_read_timeout 5s;
    upstream app { server 127.0.0.1:9001 weight=2; server localhost:9002; server db.internal:9003; }
    server {
        listen 127.0.0.1:8080 default_server;
        location / { proxy_pass http://127.0.0.1:9000; }
        location /api/ { proxy_pass http://app/v1/; proxy_read_timeout 1s; }
        location ~ \.php$ { fastcgi_pass unix:/run/php/fpm.sock; }
        location = /down { return 503 "maintenance"; }
        location /limited { limit_req zone=one; proxy_pass http://[::1]:9005; }
        location /var { proxy_pass http://$backend; }
    }
    server {
        listen 8080;
        server_name other.test;
        location / { uwsgi_pass 127.0.0.1:9010; }
    }
}
"#;

    fn pass(handler: Option<Handler>) -> Pass {
        match handler {
            Some(Handler::Pass(pass)) => *pass,
            other => panic!("not a pass: {other:?}"),
        }
    }

    fn local(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_request_is_routed_as_nginx_routes_it() {
        let config = parse(SITE, "/etc/nginx/site.conf");
        let root = pass(route(&config, local(8080), "127.0.0.1", "/index.html"));
        assert_eq!(
            root.upstreams,
            vec![Upstream::Local("http://127.0.0.1:9000/index.html".into())]
        );
        assert_eq!(root.directive.place(), "/etc/nginx/site.conf line 9");
        assert_eq!(root.read_timeout.unwrap().args, vec!["5s"]);

        let api = pass(route(&config, local(8080), "127.0.0.1", "/api/users"));
        assert_eq!(api.group.unwrap().args, vec!["app"]);
        assert_eq!(
            api.upstreams,
            vec![
                Upstream::Local("http://127.0.0.1:9001/v1/users".into()),
                Upstream::Local("http://localhost:9002/v1/users".into()),
                Upstream::Other("db.internal:9003".into()),
            ]
        );
        assert_eq!(api.read_timeout.unwrap().args, vec!["1s"]);

        let php = pass(route(&config, local(8080), "127.0.0.1", "/index.php"));
        assert_eq!(php.upstreams, vec![Upstream::Local("unix:/run/php/fpm.sock".into())]);

        let Some(Handler::Return(down)) = route(&config, local(8080), "127.0.0.1", "/down") else {
            panic!("return expected");
        };
        assert_eq!(down.args, vec!["503", "maintenance"]);

        let limited = pass(route(&config, local(8080), "127.0.0.1", "/limited/x"));
        assert_eq!(limited.limits.len(), 1);
        assert_eq!(limited.upstreams, vec![Upstream::Local("http://[::1]:9005/limited/x".into())]);

        let variable = pass(route(&config, local(8080), "127.0.0.1", "/var"));
        assert_eq!(variable.upstreams, vec![Upstream::Other("http://$backend".into())]);

        // The Host picks the second server; another port has none.
        let other = pass(route(&config, local(8080), "other.test", "/"));
        assert_eq!(other.upstreams, vec![Upstream::Local("127.0.0.1:9010".into())]);
        assert_eq!(route(&config, local(8081), "127.0.0.1", "/"), None);
        assert_eq!(
            error_log(
                &config,
                &Nginx { pid: 1, config: String::new(), prefix: None, root: String::new() }
            ),
            Some("/var/log/site/error.log".into())
        );
    }

    #[test]
    fn quotes_variables_and_comments_are_tokens_as_nginx_reads_them() {
        let config = parse("a \"x y\" 'z;'; # c;\nb ${v}x {\n c; }\n", "f");
        assert_eq!(config[0].args, vec!["x y", "z;"]);
        assert_eq!(config[1].args, vec!["${v}x"]);
        assert_eq!(config[1].children()[0].line, 3);
        assert!(glob_matches(b"*.conf", b"site.conf"));
        assert!(!glob_matches(b"*.conf", b"site.conf.bak"));
    }
}
