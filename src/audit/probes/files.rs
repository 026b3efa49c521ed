//! Local HTTP file servers that hand out files they should not: a
//! directory listing at `/` (Python's `http.server`, nginx or Apache
//! `autoindex`, busybox `httpd`, node's `http-server` and `serve`), and a
//! short fixed list of paths where a home directory or a project root
//! keeps its secrets (`/.ssh/id_ed25519`, `/.git/config`, `/.env`…).
//!
//! Every request is a `GET` on its own connection, bounded by the target's
//! deadline; a secret path is read only as far as its first bytes, which
//! tell a real file from the page an application answers every path with
//! (single-page dev servers answer 200 with their `index.html`), and
//! nothing of its contents is kept: the evidence names the path, the status
//! and the size the server announced.
//!
//! File names in a listing are other users' text: they are kept exact
//! (JSON) and the renderers sanitise them on a terminal.

use std::net::SocketAddr;

use super::conn::Deadline;
use super::http::{self, Request, Response};
use super::Hint;

/// A directory listing the server answered `/` with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Whose listing page it is: `Python http.server`, `Index of /`…
    pub page: String,
    /// The first entries it names, decoded (at most [`SHOWN_ENTRIES`]).
    pub entries: Vec<String>,
    /// How many entries the page names in all (as far as it was read).
    pub total: usize,
}

/// A secret path that answered with a file of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedSecret {
    /// `/.ssh/id_ed25519`.
    pub path: &'static str,
    /// `an SSH private key`.
    pub what: &'static str,
    pub status: u16,
    /// `Content-Length`, when the server announced one.
    pub size: Option<u64>,
}

/// What the file-server check found on one HTTP service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileServer {
    pub listing: Option<Listing>,
    pub secrets: Vec<ServedSecret>,
    /// The path no server has answered with a page (every path does: a
    /// catch-all), so a secret path counted only when its first bytes were
    /// of its kind and not that page.
    pub catch_all: bool,
}

/// Entries of a listing named in evidence.
pub const SHOWN_ENTRIES: usize = 10;

/// Bytes of a secret path's body read to tell what it is.
const BODY_START: usize = 512;

/// A path no file server holds: what a catch-all answers.
const NO_SUCH_PATH: &str = "/porthole-audit-no-such-file.txt";

/// What a file at a secret path starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `-----BEGIN … PRIVATE KEY-----`.
    PrivateKey,
    /// An INI-style file whose first line opens a `[section]`.
    Sections,
    /// `NAME=value` lines (`export NAME=value` too).
    Assignments,
    /// `machine HOST …` or `default …`.
    Netrc,
    /// `https://user:token@host` lines.
    CredentialUrls,
    /// Text that is no HTML page.
    Text,
    /// A directory listing.
    Listing,
}

/// The secret paths asked for, what each holds and what it starts with.
const SECRET_PATHS: [(&str, &str, Shape); 12] = [
    ("/.ssh/", "the SSH directory", Shape::Listing),
    ("/.ssh/id_rsa", "an SSH private key", Shape::PrivateKey),
    ("/.ssh/id_ed25519", "an SSH private key", Shape::PrivateKey),
    ("/.ssh/id_ecdsa", "an SSH private key", Shape::PrivateKey),
    (
        "/.git/config",
        "a git configuration, whose remote URLs may hold credentials",
        Shape::Sections,
    ),
    ("/.git-credentials", "git's stored credentials", Shape::CredentialUrls),
    ("/.env", "an environment file", Shape::Assignments),
    ("/.aws/credentials", "AWS credentials", Shape::Sections),
    ("/.netrc", "a .netrc with logins", Shape::Netrc),
    ("/.pgpass", "PostgreSQL passwords", Shape::Text),
    ("/.docker/config.json", "Docker registry credentials", Shape::Text),
    ("/.bash_history", "a shell history", Shape::Text),
];

/// Whether the file-server check applies to an HTTP service: a listing at
/// `/`, a server that serves files by its nature (Python's `http.server`,
/// nginx, Apache, lighttpd, busybox `httpd`), or an owner started as one.
pub fn applies(first: &Response, hint: &Hint) -> bool {
    let server = first.header("server").unwrap_or("").to_ascii_lowercase();
    let file_server_banner = ["simplehttp", "nginx", "apache", "lighttpd", "busybox"]
        .iter()
        .any(|name| server.starts_with(name));
    listing(first).is_some()
        || file_server_banner
        || hint.cmdlines.iter().any(|line| {
            let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            crate::audit::file_server_options::starts_file_server(&words)
        })
}

/// Reads the listing at `/` (from `first`, the answer already read) and
/// asks for the secret paths.
pub fn check(
    address: SocketAddr,
    tls: bool,
    first: &Response,
    deadline: &Deadline,
    probes: &mut Vec<String>,
) -> FileServer {
    let host = http::local_host(address);
    let mut found = FileServer { listing: listing(first), ..FileServer::default() };
    probes.push(format!(
        "http GET {NO_SUCH_PATH} and {} secret paths (first {BODY_START} bytes of each)",
        SECRET_PATHS.len()
    ));
    let get = |path: &str| {
        http::send_for_start(address, tls, &Request::get(path, host.clone()), deadline, BODY_START)
    };
    // What the server answers for a path nothing holds.
    let catch_all = get(NO_SUCH_PATH).filter(|r| (200..300).contains(&r.status));
    found.catch_all = catch_all.is_some();
    for (path, what, shape) in SECRET_PATHS {
        let Some(reply) = get(path) else { continue };
        if is_file(&reply, shape, catch_all.as_ref()) {
            let size = reply.header("content-length").and_then(|l| l.parse().ok());
            found.secrets.push(ServedSecret { path, what, status: reply.status, size });
        }
    }
    found
}

/// Whether `reply` is a file of `shape`, not the page a catch-all answers
/// every path with.
fn is_file(reply: &Response, shape: Shape, catch_all: Option<&Response>) -> bool {
    if reply.status != 200 {
        return false;
    }
    if catch_all.is_some_and(|page| page.body == reply.body) {
        return false;
    }
    let text = String::from_utf8_lossy(&reply.body);
    let start = text.trim_start();
    let html = start.starts_with('<');
    let first_line = start
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .unwrap_or("");
    match shape {
        Shape::Listing => listing(reply).is_some(),
        Shape::PrivateKey => {
            start.starts_with("-----BEGIN ")
                && start.lines().next().unwrap_or("").contains("PRIVATE KEY")
        }
        Shape::Sections => first_line.starts_with('[') && first_line.ends_with(']'),
        Shape::Assignments => {
            let assignment = first_line.strip_prefix("export ").unwrap_or(first_line);
            assignment.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !name.starts_with(|c: char| c.is_ascii_digit())
            })
        }
        Shape::Netrc => first_line.starts_with("machine ") || first_line.starts_with("default"),
        Shape::CredentialUrls => {
            first_line.starts_with("https://") || first_line.starts_with("http://")
        }
        Shape::Text => {
            !html && !start.is_empty() && !reply.body.contains(&0) && !is_html_type(reply)
        }
    }
}

fn is_html_type(reply: &Response) -> bool {
    reply.header("content-type").is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"))
}

/// The directory listing `response` is, when it is one: its page's kind
/// and the entries its links name.
pub fn listing(response: &Response) -> Option<Listing> {
    if response.status != 200 {
        return None;
    }
    let body = response.body_text();
    let title = between(&body, "<title>", "</title>").unwrap_or_default();
    let heading = between(&body, "<h1>", "</h1>").unwrap_or_default();
    let page = if title.starts_with("Directory listing for /") {
        "Python http.server"
    } else if title.starts_with("Index of /") || heading.starts_with("Index of /") {
        "Index of /"
    } else if title.starts_with("Files within ") {
        "serve"
    } else {
        return None;
    };
    let entries = entries(&body);
    Some(Listing {
        page: page.to_string(),
        total: entries.len(),
        entries: entries.into_iter().take(SHOWN_ENTRIES).collect(),
    })
}

/// The text between the first `open` and the `close` after it, trimmed.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].trim())
}

/// The entries a listing's links name: relative (`name/`) or rooted at
/// `/` (`/name`), decoded; the parent, sorting links and links elsewhere
/// left out.
fn entries(body: &str) -> Vec<String> {
    let mut names = Vec::new();
    for piece in body.split("href=").skip(1) {
        let Some(quote) = piece.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let Some(end) = piece[1..].find(quote) else { continue };
        let link = &piece[1..1 + end];
        if link.contains("://") || link.starts_with('?') || link.starts_with('#') {
            continue;
        }
        let name = percent_decoded(link.trim_start_matches('/'));
        if name.is_empty() || name == ".." || name == "../" || name.starts_with("../") {
            continue;
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `%2E` and the like decoded; `&amp;` and its kin too (Python escapes
/// names in its links).
fn percent_decoded(link: &str) -> String {
    let link = link
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'");
    let bytes = link.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|pair| {
            std::str::from_utf8(pair).ok().and_then(|pair| u8::from_str_radix(pair, 16).ok())
        });
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(text: &str) -> Response {
        http::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn listings_of_the_common_file_servers_are_recognised() {
        let python = response("HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\n\r\n<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<title>Directory listing for /</title>\n</head>\n<body>\n<h1>Directory listing for /</h1>\n<hr>\n<ul>\n<li><a href=\".git/\">.git/</a></li>\n<li><a href=\".ssh/\">.ssh/</a></li>\n<li><a href=\"my%20notes.txt\">my notes.txt</a></li>\n<li><a href=\"a%1B%5B2Jb\">a\u{1b}[2Jb</a></li>\n</ul>\n<hr>\n</body>\n</html>\n");
        let found = listing(&python).unwrap();
        assert_eq!(found.page, "Python http.server");
        assert_eq!(found.entries, [".git/", ".ssh/", "my notes.txt", "a\u{1b}[2Jb"]);
        let nginx = response("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n<html>\r\n<head><title>Index of /</title></head>\r\n<body>\r\n<h1>Index of /</h1><hr><pre><a href=\"../\">../</a>\r\n<a href=\"backup.tar\">backup.tar</a>   01-Jan-2026 00:00    10\r\n</pre><hr></body>\r\n</html>\r\n");
        assert_eq!(listing(&nginx).unwrap().entries, ["backup.tar"]);
        let apache = response("HTTP/1.1 200 OK\r\n\r\n<html><head><title>Index of /</title></head><body><h1>Index of /</h1><table><tr><th><a href=\"?C=N;O=D\">Name</a></th></tr><tr><td><a href=\"/\">Parent Directory</a></td></tr><tr><td><a href=\"db.sql\">db.sql</a></td></tr></table></body></html>");
        assert_eq!(listing(&apache).unwrap().entries, ["db.sql"]);
        // node's http-server links from the root.
        let node = response("HTTP/1.1 200 OK\r\n\r\n<!doctype html><html><head><title>Index of /</title></head><body><h1>Index of /</h1><table><tr><td><a href=\"/.env\">.env</a></td></tr></table></body></html>");
        assert_eq!(listing(&node).unwrap().entries, [".env"]);
        let serve = response("HTTP/1.1 200 OK\r\n\r\n<html><head><title>Files within /srv/</title></head><body><ul><li><a href=\"/notes.md\">notes.md</a></li></ul></body></html>");
        assert_eq!(listing(&serve).unwrap().page, "serve");
        // An application's own page, and a listing answered with an error.
        let app = response("HTTP/1.1 200 OK\r\n\r\n<html><head><title>My app</title></head><body><a href=\"/about\">About</a></body></html>");
        assert!(listing(&app).is_none());
        let denied = response("HTTP/1.1 403 Forbidden\r\n\r\n<title>Index of /</title>");
        assert!(listing(&denied).is_none());
    }

    #[test]
    fn a_secret_path_counts_only_when_it_starts_like_its_file() {
        let key = response("HTTP/1.0 200 OK\r\nContent-Length: 411\r\n\r\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn");
        assert!(is_file(&key, Shape::PrivateKey, None));
        let config = response("HTTP/1.0 200 OK\r\n\r\n[core]\n\trepositoryformatversion = 0\n");
        assert!(is_file(&config, Shape::Sections, None));
        let env = response("HTTP/1.0 200 OK\r\n\r\n# settings\nexport DATABASE_URL=postgres://x\n");
        assert!(is_file(&env, Shape::Assignments, None));
        let netrc = response("HTTP/1.0 200 OK\r\n\r\nmachine example.com login a password b\n");
        assert!(is_file(&netrc, Shape::Netrc, None));
        // A single-page app answers every path with its index.html.
        let spa = response("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<!doctype html><html><div id=\"root\"></div></html>");
        for shape in [
            Shape::PrivateKey,
            Shape::Sections,
            Shape::Assignments,
            Shape::Netrc,
            Shape::CredentialUrls,
            Shape::Text,
            Shape::Listing,
        ] {
            assert!(!is_file(&spa, shape, Some(&spa)), "{shape:?}");
            assert!(!is_file(&spa, shape, None), "{shape:?}");
        }
        // Text a catch-all answers every path with is no file either.
        let text = response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\n");
        assert!(is_file(&text, Shape::Text, None));
        assert!(!is_file(&text, Shape::Text, Some(&text)));
        let missing = response("HTTP/1.0 404 File not found\r\n\r\n-----BEGIN PRIVATE KEY-----");
        assert!(!is_file(&missing, Shape::PrivateKey, None));
    }
}
