//! Which directory a local file server hands out, named from its owner:
//! Python's `http.server` and `php -S` serve their working directory
//! (`/proc/PID/cwd`) unless `--directory`/`-d` or `-t` says otherwise,
//! busybox `httpd` its `-h`; nginx its `root` (or `alias`) and lists it
//! where `autoindex on;` is set, both read from `nginx -T`, which prints
//! every file nginx reads (it needs root to read them).
//! See: <https://docs.python.org/3/library/http.server.html#command-line-interface>,
//! <https://nginx.org/en/docs/http/ngx_http_autoindex_module.html>

use std::time::Duration;

use crate::inventory::system::System;
use crate::model::Process;

/// The directory a file server serves, and how that was learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedDirectory {
    pub path: String,
    /// `its working directory`, `its --directory`, `root in FILE line N`.
    pub source: String,
    /// The owner's working directory, where a command line started again
    /// finds its relative paths.
    pub working_directory: Option<String>,
}

/// The file-server program a command line starts, with the option that
/// names the directory it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `python3 -m http.server` (`--directory`, `-d`).
    Python,
    /// `php -S ADDRESS:PORT` (`-t`).
    Php,
    /// `busybox httpd` (`-h`).
    Busybox,
}

impl Program {
    /// The file server `cmdline` starts, when it is one of these.
    pub fn of(cmdline: &[String]) -> Option<Program> {
        let program = base_name(cmdline.first()?);
        let module = cmdline.windows(2).any(|pair| {
            pair[0] == "-m" && matches!(pair[1].as_str(), "http.server" | "SimpleHTTPServer")
        }) || cmdline.iter().any(|word| word == "-mhttp.server");
        if program.starts_with("python") && module {
            Some(Program::Python)
        } else if program.starts_with("php") && cmdline.iter().any(|word| word.starts_with("-S")) {
            Some(Program::Php)
        } else if program == "busybox" && cmdline.get(1).is_some_and(|word| word == "httpd") {
            Some(Program::Busybox)
        } else {
            None
        }
    }

    /// The options that name the served directory.
    fn directory_options(self) -> &'static [&'static str] {
        match self {
            Program::Python => &["--directory", "-d"],
            Program::Php => &["-t"],
            Program::Busybox => &["-h"],
        }
    }
}

/// Whether `cmdline` starts a file server: one of [`Program`], or node's
/// `http-server` or `serve` (whose served directory is not read: it
/// depends on what is in the working directory).
pub fn starts_file_server(cmdline: &[String]) -> bool {
    Program::of(cmdline).is_some()
        || cmdline.iter().take(3).any(|word| matches!(base_name(word), "http-server" | "serve"))
}

/// `python3` of `/usr/bin/python3`.
fn base_name(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// The value of the first of `options` in `cmdline` (`-d DIR`, `-dDIR`,
/// `--directory=DIR`), with the option as given.
pub fn option_value(cmdline: &[String], options: &[&str]) -> Option<(String, String)> {
    let mut words = cmdline.iter().skip(1);
    while let Some(word) = words.next() {
        for option in options {
            if word == option {
                return words.next().map(|value| (option.to_string(), value.clone()));
            }
            let joined = if option.starts_with("--") {
                word.strip_prefix(&format!("{option}="))
            } else {
                word.strip_prefix(option).filter(|rest| !rest.is_empty())
            };
            if let Some(value) = joined {
                return Some((option.to_string(), value.to_string()));
            }
        }
    }
    None
}

/// The directory `owner` serves, when it is a file server porthole knows
/// (its working directory read from `/proc/PID/cwd`).
pub fn served(system: &dyn System, owner: &Process) -> Option<ServedDirectory> {
    let program = Program::of(&owner.cmdline)?;
    let working_directory = system.read_link(&format!("/proc/{}/cwd", owner.pid));
    let (path, source) = match option_value(&owner.cmdline, program.directory_options()) {
        Some((option, value)) if value.starts_with('/') => (value, format!("its {option}")),
        Some((option, value)) => {
            let base = working_directory.clone()?;
            (format!("{}/{value}", base.trim_end_matches('/')), format!("its {option}"))
        }
        None => (working_directory.clone()?, "its working directory".to_string()),
    };
    Some(ServedDirectory { path, source, working_directory })
}

/// How long `nginx -T` may take.
const NGINX_TIMEOUT: Duration = Duration::from_secs(5);

/// What nginx's configuration says of the server on `port`: where
/// `autoindex on;` is set (file, line), and the directory its `/` serves.
/// Read from `nginx -T`, run with the `-c`/`-p` of its master's command
/// line; nothing when porthole is not root (nginx could not read the files,
/// or its own `-t` would fail on the logs it opens) or when the nginx has
/// a mount namespace of its own where its configuration is another file.
pub fn nginx(
    system: &dyn System,
    owners: &[Process],
    port: u16,
    root: bool,
) -> (Vec<(String, usize)>, Option<ServedDirectory>) {
    let mine = nginx_servers_on(system, owners, port, root).unwrap_or_default();
    let autoindex = mine.iter().flat_map(|s| s.autoindex.iter().cloned()).collect();
    let directory =
        mine.iter().find_map(|s| s.root.clone()).map(|(path, file, line)| ServedDirectory {
            path,
            source: format!("`root` in {file} line {line}"),
            working_directory: None,
        });
    (autoindex, directory)
}

/// The `server` blocks of the nginx among `owners` that listen on `port`,
/// from `nginx -T` run as [`nginx`] runs it; `None` when it cannot be run
/// (no nginx, not root, its files are not the ones here, or it failed).
pub fn nginx_servers_on(
    system: &dyn System,
    owners: &[Process],
    port: u16,
    root: bool,
) -> Option<Vec<NginxServer>> {
    let master = owners.iter().find(|p| p.name == "nginx")?;
    if !root {
        return None;
    }
    let words: Vec<String> = master.command_line().split_whitespace().map(str::to_string).collect();
    let after =
        |flag: &str| words.iter().position(|w| w == flag).and_then(|i| words.get(i + 1)).cloned();
    // An nginx in a mount namespace of its own (a container) reads other
    // files than `nginx -T` run here would: its configuration file must be
    // the same file from here.
    let config = match (after("-c"), after("-p")) {
        (Some(file), Some(prefix)) if !file.starts_with('/') => {
            format!("{}/{file}", prefix.trim_end_matches('/'))
        }
        (Some(file), _) => file,
        (None, _) => "/etc/nginx/nginx.conf".to_string(),
    };
    if crate::audit::reached_path(system, master.pid, &config) != config {
        return None;
    }
    let mut args: Vec<String> = Vec::new();
    for flag in ["-c", "-p"] {
        if let Some(value) = after(flag) {
            args.extend([flag.to_string(), value]);
        }
    }
    args.push("-T".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let program = master.exe.as_deref().filter(|exe| exe.starts_with('/')).unwrap_or("nginx");
    let output = system.run(program, &args, NGINX_TIMEOUT).filter(|o| o.success)?;
    Some(nginx_servers(&output.text()).into_iter().filter(|s| s.ports.contains(&port)).collect())
}

/// One `server` block of an nginx configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NginxServer {
    pub ports: Vec<u16>,
    /// `autoindex on;` in the block or a location in it, else in `http`:
    /// (file, line).
    pub autoindex: Vec<(String, usize)>,
    /// The `root` of the block or of its `location /`, else of `http`:
    /// (directory, file, line).
    pub root: Option<(String, String, usize)>,
    /// Its `listen … default_server` lines (`default` before nginx 0.8.21):
    /// (port, file, line). Another default server on the same address
    /// makes nginx refuse the whole configuration.
    pub default_listens: Vec<(u16, String, usize)>,
}

/// The `server` blocks of `nginx -T`'s output, each file of which follows
/// a `# configuration file PATH:` line.
pub fn nginx_servers(dump: &str) -> Vec<NginxServer> {
    let mut servers = Vec::new();
    // Settings of the `http` block, which its servers inherit.
    let mut http_autoindex = Vec::new();
    let mut http_root = None;
    let mut file = String::new();
    let mut tokens: Vec<(String, String, usize)> = Vec::new();
    let mut line_in_file = 0;
    for line in dump.lines() {
        if let Some(path) =
            line.strip_prefix("# configuration file ").and_then(|rest| rest.strip_suffix(':'))
        {
            file = path.to_string();
            line_in_file = 0;
            continue;
        }
        line_in_file += 1;
        let code = line.split('#').next().unwrap_or("");
        let spaced = code.replace('{', " { ").replace('}', " } ").replace(';', " ; ");
        for word in spaced.split_whitespace() {
            tokens.push((word.trim_matches(['"', '\'']).to_string(), file.clone(), line_in_file));
        }
    }
    // Block names from the outermost in, and the statement being read.
    let mut blocks: Vec<String> = Vec::new();
    let mut statement: Vec<(String, String, usize)> = Vec::new();
    let mut current: Option<NginxServer> = None;
    for token in tokens {
        match token.0.as_str() {
            "{" => {
                let name = statement.first().map(|t| t.0.clone()).unwrap_or_default();
                let whole: Vec<&str> = statement.iter().map(|t| t.0.as_str()).collect();
                if name == "server" && !blocks.iter().any(|b| b == "server") {
                    current = Some(NginxServer::default());
                }
                blocks.push(if name == "location" && whole.get(1..) == Some(&["/"][..]) {
                    "location /".into()
                } else {
                    name
                });
                statement.clear();
            }
            "}" => {
                if blocks.pop().as_deref() == Some("server")
                    && !blocks.iter().any(|b| b == "server")
                {
                    if let Some(mut server) = current.take() {
                        if server.autoindex.is_empty() {
                            server.autoindex.clone_from(&http_autoindex);
                        }
                        if server.root.is_none() {
                            server.root.clone_from(&http_root);
                        }
                        servers.push(server);
                    }
                }
                statement.clear();
            }
            ";" => {
                let name = statement.first().map(|t| t.0.as_str()).unwrap_or_default();
                let value = statement.get(1).map(|t| t.0.clone()).unwrap_or_default();
                let (file, line) =
                    statement.first().map(|t| (t.1.clone(), t.2)).unwrap_or_default();
                let innermost = blocks.last().map(String::as_str).unwrap_or_default();
                match (name, current.as_mut()) {
                    // `listen 8080`, `listen [::]:8080`, `listen 127.0.0.1` (port
                    // 80); a Unix socket is no port.
                    ("listen", Some(server)) if !value.starts_with("unix:") => {
                        let port = match value.rsplit_once(':') {
                            Some((_, port)) if !value.ends_with(']') => port,
                            _ => value.as_str(),
                        };
                        let port = port.parse().unwrap_or(80);
                        server.ports.push(port);
                        // The flag's own line: that is where it is removed.
                        let flag = statement
                            .iter()
                            .skip(2)
                            .find(|t| matches!(t.0.as_str(), "default_server" | "default"));
                        if let Some((_, file, line)) = flag {
                            server.default_listens.push((port, file.clone(), *line));
                        }
                    }
                    ("autoindex", Some(server)) if value == "on" => {
                        server.autoindex.push((file, line));
                    }
                    // A `location /` beats the server's own.
                    ("root" | "alias", Some(server))
                        if innermost == "location /"
                            || (innermost == "server" && server.root.is_none()) =>
                    {
                        server.root = Some((value, file, line));
                    }
                    ("autoindex", None) if value == "on" && innermost == "http" => {
                        http_autoindex.push((file, line));
                    }
                    ("root", None) if innermost == "http" => {
                        http_root = Some((value, file, line));
                    }
                    _ => {}
                }
                statement.clear();
            }
            _ => statement.push(token),
        }
    }
    // A server without `listen` listens on 80.
    for server in &mut servers {
        if server.ports.is_empty() {
            server.ports.push(80);
        }
    }
    servers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn the_served_directory_option_of_each_program() {
        let python = words("/usr/bin/python3 -m http.server 8000 --directory /srv/www");
        assert_eq!(Program::of(&python), Some(Program::Python));
        assert_eq!(
            option_value(&python, Program::Python.directory_options()),
            Some(("--directory".into(), "/srv/www".into()))
        );
        let joined = words("python3 -m http.server -dpublic");
        assert_eq!(
            option_value(&joined, Program::Python.directory_options()),
            Some(("-d".into(), "public".into()))
        );
        let php = words("php -S 0.0.0.0:8000 -t public");
        assert_eq!(Program::of(&php), Some(Program::Php));
        assert_eq!(option_value(&php, &["-t"]), Some(("-t".into(), "public".into())));
        assert_eq!(Program::of(&words("busybox httpd -f -p 8080")), Some(Program::Busybox));
        assert_eq!(Program::of(&words("python3 app.py")), None);
        assert_eq!(Program::of(&words("python3 -m http.server")), Some(Program::Python));
    }

    #[test]
    fn file_server_commands() {
        for line in [
            "/usr/bin/python3 -m http.server 8000",
            "python3 -mhttp.server",
            "python2 -m SimpleHTTPServer",
            "php -S 0.0.0.0:8000 -t public",
            "busybox httpd -f -p 8080",
            "node /usr/lib/node_modules/http-server/bin/http-server -p 8080",
            "node /home/a/.npm/_npx/x/node_modules/.bin/serve -l 3000",
        ] {
            assert!(starts_file_server(&words(line)), "{line}");
        }
        for line in ["python3 manage.py runserver", "php-fpm: master process", "node server.js"] {
            assert!(!starts_file_server(&words(line)), "{line}");
        }
    }

    #[test]
    fn the_working_directory_is_served_unless_an_option_says_otherwise() {
        let system = crate::inventory::system::fake::Scripted {
            links: [("/proc/7/cwd".to_string(), "/home/dev/project".to_string())].into(),
            ..Default::default()
        };
        let owner = |line: &str| Process { pid: 7, cmdline: words(line), ..Process::default() };
        let plain = served(&system, &owner("python3 -m http.server")).unwrap();
        assert_eq!(
            (plain.path.as_str(), plain.source.as_str()),
            ("/home/dev/project", "its working directory")
        );
        let narrower = served(&system, &owner("python3 -m http.server -d public")).unwrap();
        assert_eq!(narrower.path, "/home/dev/project/public");
        assert_eq!(narrower.working_directory.as_deref(), Some("/home/dev/project"));
        assert!(served(&system, &owner("python3 app.py")).is_none());
    }

    #[test]
    fn nginx_t_is_run_with_the_masters_own_files_and_only_as_root() {
        let dump = "# configuration file /x/nginx.conf:\nhttp {\n  server {\n    listen 8080;\n    location / {\n      root /srv/files;\n      autoindex on;\n    }\n  }\n}\n";
        let system = crate::inventory::system::fake::Scripted::default()
            .command("/usr/sbin/nginx -c nginx.conf -p /x -T", dump);
        let master = Process {
            pid: 9,
            name: "nginx".into(),
            exe: Some("/usr/sbin/nginx".into()),
            cmdline: words("nginx -c nginx.conf -p /x -g daemon off;"),
            ..Process::default()
        };
        let (autoindex, directory) = nginx(&system, std::slice::from_ref(&master), 8080, true);
        assert_eq!(autoindex, [("/x/nginx.conf".to_string(), 6)]);
        let directory = directory.unwrap();
        assert_eq!(directory.path, "/srv/files");
        assert_eq!(directory.source, "`root` in /x/nginx.conf line 5");
        // Another port is another server; without root nothing is run.
        assert_eq!(nginx(&system, std::slice::from_ref(&master), 9090, true), (Vec::new(), None));
        assert_eq!(nginx(&system, std::slice::from_ref(&master), 8080, false), (Vec::new(), None));
    }

    #[test]
    fn autoindex_and_root_of_the_server_on_the_port() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n\n# configuration file /etc/nginx/sites-enabled/files:\nserver {\n    listen 0.0.0.0:8080 default_server;\n    root /home/dev; # the home directory\n    location / {\n        autoindex on;\n    }\n}\nserver {\n    listen [::]:9090;\n    location / { root \"/srv/other\"; }\n}\n";
        let servers = nginx_servers(dump);
        assert_eq!(servers.len(), 2, "{servers:?}");
        assert_eq!(servers[0].ports, [8080]);
        assert_eq!(servers[0].autoindex, [("/etc/nginx/sites-enabled/files".to_string(), 5)]);
        assert_eq!(
            servers[0].root,
            Some(("/home/dev".into(), "/etc/nginx/sites-enabled/files".into(), 3))
        );
        let default = [(8080, "/etc/nginx/sites-enabled/files".to_string(), 2)];
        assert_eq!(servers[0].default_listens, default);
        assert_eq!(servers[1].ports, [9090]);
        assert!(servers[1].autoindex.is_empty() && servers[1].default_listens.is_empty());
        assert_eq!(servers[1].root.as_ref().map(|r| r.0.as_str()), Some("/srv/other"));
        let listens = nginx_servers("# configuration file /n.conf:\nserver { listen 127.0.0.1; listen [::1]; listen unix:/run/a.sock; listen *:81; }\n");
        assert_eq!(listens[0].ports, [80, 80, 81]);
        // `autoindex on` in `http` is every server's.
        let inherited = nginx_servers("# configuration file /n.conf:\nhttp {\n autoindex on;\n root /srv;\n server { listen 80; }\n}\n");
        assert_eq!(inherited[0].autoindex, [("/n.conf".to_string(), 2)]);
        assert_eq!(inherited[0].root.as_ref().map(|r| r.0.as_str()), Some("/srv"));
    }
}
