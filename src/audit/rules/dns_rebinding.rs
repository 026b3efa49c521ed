//! `dns-rebinding`: an HTTP service answered a foreign `Host` exactly as it
//! answers `127.0.0.1`, so a web page whose name re-resolves to 127.0.0.1
//! can read it. Worse when the service also lets anyone in.
//! See: <https://green.sapphi.red/blog/local-server-security-best-practices>

use super::Context;
use crate::audit::probes::Observation;
use crate::model::{Finding, RuleId, Severity};

pub fn check(context: &Context<'_>) -> Vec<Finding> {
    context
        .observations()
        .iter()
        .filter_map(|observation| match observation {
            Observation::Rebindable { evidence, page } => {
                // A 404 at `/` shows the missing Host check, not what a page
                // would read: one level lower until a way in is known.
                let severity = match (context.has_open_door(), page) {
                    (true, _) => Severity::High,
                    (false, true) => Severity::Medium,
                    (false, false) => Severity::Low,
                };
                let fix = allow_list_fix(context);
                Some(context.finding(RuleId::DnsRebinding, severity, evidence.clone(), fix))
            }
            _ => None,
        })
        .collect()
}

/// How to allow-list `Host` in the server that answered: a web server's
/// own configuration when it is one porthole recognises (the framework
/// settings mean nothing to nginx or Apache), else the common frameworks'.
fn allow_list_fix(context: &Context<'_>) -> String {
    let names = own_names(context);
    let port = context.target.port;
    let banner = context.outcome.and_then(|o| o.version.as_deref()).unwrap_or_default();
    let owner_is = |name: &str| context.target.owners.iter().any(|p| p.name == name);
    // server_name and ServerName match the name without the port.
    let mut bare: Vec<String> = Vec::new();
    for name in &names {
        let host = match name.rsplit_once(':') {
            Some((host, _)) => host.to_string(),
            None => name.clone(),
        };
        if !bare.contains(&host) {
            bare.push(host);
        }
    }
    if banner.starts_with("nginx") || owner_is("nginx") {
        // The catch-all must listen where the server does to be chosen.
        let listen = match context.target.address.as_str() {
            "0.0.0.0" => port.to_string(),
            address if address.contains(':') => format!("[{address}]:{port}"),
            address => format!("{address}:{port}"),
        };
        // nginx refuses a second default server on one address, and the
        // answering server often is one (`listen 80 default_server;
        // server_name _;`): that flag goes first.
        let defaults = context.outcome.and_then(|o| o.nginx_default_listens.as_deref());
        let first = match defaults {
            None => "if its listen directive says default_server, remove that first (nginx refuses two default servers on one address), ".to_string(),
            Some([]) => String::new(),
            Some(defaults) => {
            let edits: Vec<String> = defaults
                .iter()
                .map(|(file, line)| {
                    format!(
                        "`sed -i '{line}s/ default_server//' {}` (line {line} makes it the default)",
                        crate::shell::printable_word(file)
                    )
                })
                .collect();
            format!("{}, ", edits.join(" and "))
            }
        };
        return format!(
            "in {}, {first}give the server `server_name {};` and add a catch-all that closes other names: `server {{ listen {listen} default_server; return 444; }}`, then {}",
            nginx_configuration(context),
            bare.join(" "),
            nginx_reload(context)
        );
    }
    // Prometheus and the exporter toolkit have no Host setting: credentials,
    // which a page that rebinds to it does not have, are what they offer.
    if context.service_name() == Some("prometheus") || owner_is("prometheus") {
        return "Prometheus cannot check Host: require basic auth in a `--web.config.file` (a page that rebinds to it has no credentials), or put it behind a proxy that allows only its own names".to_string();
    }
    if banner.starts_with("Apache") || owner_is("apache2") || owner_is("httpd") {
        return format!(
            "in Apache, put first a `<VirtualHost *:{port}>` with `Require all denied`, and give the real one `ServerName {}` and `ServerAlias {}`, then reload Apache",
            bare[0],
            bare[1..].join(" ")
        );
    }
    format!(
        "reject requests whose Host is not one of the server's own names ({}) (webpack `allowedHosts`, Vite `server.allowedHosts`, Django `ALLOWED_HOSTS`), or require a token",
        names.join(", ")
    )
}

/// Where the nginx that answered reads its configuration: the `-c` its
/// master was started with (under its `-p` prefix when relative), else its
/// built-in file, which `nginx -T` prints with every file it includes.
fn nginx_configuration(context: &Context<'_>) -> String {
    let words: Vec<String> = context
        .target
        .owners
        .iter()
        .filter(|p| p.name == "nginx")
        .map(|p| p.command_line())
        .find(|line| line.starts_with("nginx: master process") || line.contains(" -c "))
        .map(|line| line.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let after =
        |flag: &str| words.iter().position(|w| w == flag).and_then(|i| words.get(i + 1)).cloned();
    match (after("-c"), after("-p")) {
        (Some(file), Some(prefix)) if !file.starts_with('/') => {
            format!(
                "nginx's configuration ({}/{file}, or a file it includes)",
                prefix.trim_end_matches('/')
            )
        }
        (Some(file), _) => format!("nginx's configuration ({file}, or a file it includes)"),
        (None, _) => "nginx's configuration (`nginx -T` prints every file it reads)".into(),
    }
}

/// How to make the nginx that answered read its configuration again. A
/// bare `nginx -s reload` signals the pid in the default pid file: it fails
/// for an nginx started with its own `-c`/`-p` (or reloads another nginx).
/// Its systemd unit, else its master process (the one pid that takes
/// `SIGHUP` as "reload"; a lone nginx without a master does too).
pub(super) fn nginx_reload(context: &Context<'_>) -> String {
    let owners: Vec<&crate::model::Process> =
        context.target.owners.iter().filter(|p| p.name == "nginx").collect();
    if let Some(command) =
        owners.iter().find_map(|p| p.service_command("reload", context.caller_uid))
    {
        return format!("`{command}`");
    }
    let master = owners.iter().find(|p| p.command_line().starts_with("nginx: master process")).or(
        match owners.as_slice() {
            [only] => Some(only),
            _ => None,
        },
    );
    match master {
        Some(master) => format!("`kill -HUP {}` (the nginx master: it reloads)", master.pid),
        None => "reload nginx (`nginx -s reload` with the `-c`/`-p` it was started with)".into(),
    }
}

/// The `Host` values the server should accept: `localhost:PORT` and the
/// address it was probed on (the bound address, or loopback for a
/// wildcard), plus the other loopback literal for a wildcard.
fn own_names(context: &Context<'_>) -> Vec<String> {
    let port = context.target.port;
    let mut names = vec![format!("localhost:{port}")];
    if let Some(probed) = context.target.connect {
        names.push(crate::audit::probes::http::local_host(probed));
    }
    if context.target.scope == crate::model::Scope::Wildcard {
        // Only the loopback of a family that reaches it: an IPV6_V6ONLY
        // `[::]` never sees a request sent to 127.0.0.1, nor `0.0.0.0` one
        // sent to [::1].
        let reach = context.target.reach;
        let loopbacks =
            [(reach.v4, format!("127.0.0.1:{port}")), (reach.v6, format!("[::1]:{port}"))];
        for loopback in loopbacks.into_iter().filter(|(on, _)| *on).map(|(_, name)| name) {
            if !names.contains(&loopback) {
                names.push(loopback);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::rules::testing::*;

    #[test]
    fn a_web_server_is_told_its_own_configuration() {
        let mut target = target("127.0.0.2", 8080);
        target.connect = Some("127.0.0.2:8080".parse().unwrap());
        let mut seen =
            outcome("http", vec![Observation::Rebindable { evidence: "same".into(), page: true }]);
        seen.version = Some("nginx/1.22.1".into());
        target.owners[0].name = "nginx".into();
        target.owners[0].cmdline = vec!["nginx: master process nginx -c /srv/nginx.conf".into()];
        let mut worker = target.owners[0].clone();
        worker.pid = 43;
        worker.cmdline = vec!["nginx: worker process".into()];
        target.owners.push(worker);
        let fix = &check(&context(&target, Some(&seen)))[0].fix;
        assert!(fix.contains("`server_name localhost 127.0.0.2;`"), "{fix}");
        assert!(fix.contains("listen 127.0.0.2:8080 default_server"), "{fix}");
        // Reloaded through the master's pid (workers hold the socket too).
        assert!(fix.ends_with("then `kill -HUP 42` (the nginx master: it reloads)"), "{fix}");
        // Unread (not root): the default_server flag is named in words;
        // read, its line is edited, and nothing is said when there is none.
        assert!(fix.contains("if its listen directive says default_server, remove that"), "{fix}");
        seen.nginx_default_listens = Some(vec![("/srv/sites/a b.conf".into(), 7)]);
        let fix = &check(&context(&target, Some(&seen)))[0].fix;
        let edit = "`sed -i '7s/ default_server//' '/srv/sites/a b.conf'` (line 7 makes it the default), give the server";
        assert!(fix.contains(edit), "{fix}");
        seen.nginx_default_listens = Some(Vec::new());
        let fix = &check(&context(&target, Some(&seen)))[0].fix;
        assert!(fix.starts_with("in nginx's configuration (/srv/nginx.conf, or a file it includes), give the server"), "{fix}");
        seen.nginx_default_listens = None;
        seen.version = Some("Apache/2.4.62 (Debian)".into());
        let mut apache = target.clone();
        apache.owners.iter_mut().for_each(|p| p.name = "apache2".into());
        let fix = &check(&context(&apache, Some(&seen)))[0].fix;
        assert!(fix.contains("`ServerName localhost`"), "{fix}");
        assert!(!fix.contains("webpack"), "{fix}");
        // A packaged nginx is reloaded through its unit.
        target.owners.iter_mut().for_each(|p| p.unit = Some("nginx.service".into()));
        seen.version = Some("nginx/1.22.1".into());
        let fix = &check(&context(&target, Some(&seen)))[0].fix;
        assert!(fix.ends_with("then `systemctl reload nginx.service`"), "{fix}");
        assert!(
            fix.starts_with("in nginx's configuration (/srv/nginx.conf, or a file it"),
            "{fix}"
        );
    }

    #[test]
    fn the_nginx_fix_names_the_file_its_master_was_started_with() {
        let mut target = target("127.0.0.1", 8080);
        let seen =
            outcome("http", vec![Observation::Rebindable { evidence: "same".into(), page: true }]);
        let with_master = |target: &mut crate::audit::Target, line: &str| {
            target.owners[0].name = "nginx".into();
            target.owners[0].cmdline = vec![line.into()];
            check(&context(target, Some(&seen)))[0].fix.clone()
        };
        let fix =
            with_master(&mut target, "nginx: master process /usr/sbin/nginx -c /srv/site.conf");
        assert!(fix.starts_with("in nginx's configuration (/srv/site.conf, or a file"), "{fix}");
        let fix =
            with_master(&mut target, "nginx: master process nginx -p /srv/app/ -c conf/n.conf");
        assert!(fix.starts_with("in nginx's configuration (/srv/app/conf/n.conf, or"), "{fix}");
        let packaged = "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;";
        let fix = with_master(&mut target, packaged);
        assert!(fix.starts_with("in nginx's configuration (`nginx -T` prints every file"), "{fix}");
    }

    #[test]
    fn prometheus_is_told_what_it_can_do() {
        let target = target("127.0.0.1", 9090);
        let seen = outcome(
            "prometheus",
            vec![Observation::Rebindable { evidence: "same".into(), page: true }],
        );
        let fix = &check(&context(&target, Some(&seen)))[0].fix;
        assert!(fix.contains("basic auth in a `--web.config.file`"), "{fix}");
        assert!(!fix.contains("allowedHosts"), "{fix}");
    }

    #[test]
    fn a_rebindable_not_found_is_low() {
        let target = target("127.0.0.1", 8000);
        let seen = outcome(
            "http",
            vec![Observation::Rebindable { evidence: "404 twice".into(), page: false }],
        );
        assert_eq!(check(&context(&target, Some(&seen)))[0].severity, Severity::Low);
    }

    #[test]
    fn rebindable_http_is_medium() {
        let target = target("127.0.0.1", 8000);
        let seen =
            outcome("http", vec![Observation::Rebindable { evidence: "same".into(), page: true }]);
        let findings = check(&context(&target, Some(&seen)));
        assert_eq!(findings[0].severity, Severity::Medium);
        assert!(findings[0].fix.contains("localhost:8000"));
    }

    #[test]
    fn the_allow_list_names_the_address_probed() {
        for (address, probed) in [
            ("192.0.2.2", "192.0.2.2:8000"),
            ("::1", "[::1]:8000"),
            ("127.0.0.2", "127.0.0.2:8000"),
        ] {
            let mut target = target(address, 8000);
            target.connect = Some(probed.parse().unwrap());
            let seen = outcome(
                "http",
                vec![Observation::Rebindable { evidence: "same".into(), page: true }],
            );
            let fix = &check(&context(&target, Some(&seen)))[0].fix;
            assert!(fix.contains(probed), "{address}: {fix}");
            assert!(!fix.contains("127.0.0.1:8000"), "{address}: {fix}");
        }
    }

    #[test]
    fn a_wildcard_names_only_the_loopback_of_its_families() {
        let seen =
            outcome("http", vec![Observation::Rebindable { evidence: "same".into(), page: true }]);
        for (address, v6only, present, absent) in [
            ("::", Some(true), "[::1]:8000", "127.0.0.1:8000"),
            ("0.0.0.0", None, "127.0.0.1:8000", "[::1]:8000"),
        ] {
            let mut target = target(address, 8000);
            target.reach = crate::audit::firewall::Reach::of(address, v6only);
            target.connect = Some(present.parse().unwrap());
            let fix = &check(&context(&target, Some(&seen)))[0].fix;
            assert!(fix.contains(present), "{address}: {fix}");
            assert!(!fix.contains(absent), "{address}: {fix}");
        }
        // A dual-stack `[::]` answers both.
        let mut dual = target("::", 8000);
        dual.reach = crate::audit::firewall::Reach::of("::", Some(false));
        let fix = &check(&context(&dual, Some(&seen)))[0].fix;
        assert!(fix.contains("127.0.0.1:8000") && fix.contains("[::1]:8000"), "{fix}");
    }
}
