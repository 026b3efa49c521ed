//! Where an HTTP target's redirect leads: `check` names every `Location`
//! it is answered with and follows it, as `curl -L` does, as long as it
//! stays on this machine.
//!
//! A `301`/`302`/`303`/`307`/`308` says little about the application: the
//! URL it leads to may be a port nothing listens on, `https://` on a port
//! that speaks plain HTTP, the same URL again, or another machine. Each URL
//! reached is diagnosed by [`causes::diagnose_target`] as the first one is,
//! so the verdict is that of the last URL, with its cause and fix.
//!
//! Porthole never sends traffic off the machine: a redirect to a host that
//! is not this one (not loopback, not `localhost`, not one of its
//! addresses, not the host asked) is named and not followed, nor is its
//! name resolved.

use super::{causes, readiness, DiagnoseError, Request};
use crate::diagnose::target::Target;
use crate::inventory::port_report::is_localhost;
use crate::inventory::system::System;
use crate::model::diagnosis::{Cause, CauseId, Diagnosis, Redirect, Reply, Severity};
use crate::target::Host;

/// How many redirects are followed, as browsers and curl cap theirs (curl's
/// `--max-redirs` defaults to 50, browsers to about 20): a local
/// application that needs more than five is itself worth a look.
pub const MAX_REDIRECTS: usize = 5;

/// What following the redirects of a diagnosis found.
pub struct Followed {
    /// Every URL's attempts, listeners and causes, and the redirects.
    pub diagnosis: Diagnosis,
    /// The last URL reached answered as a healthy target does (`None`
    /// when no redirect was followed: the first diagnosis decides alone).
    pub answered: Option<bool>,
}

/// Follows the redirects of `first`, the diagnosis of `target`, while they
/// stay on this machine, at most [`MAX_REDIRECTS`] of them.
pub fn follow(
    system: &dyn System,
    request: &Request,
    target: &Target,
    first: Diagnosis,
) -> Result<Followed, DiagnoseError> {
    let Target::Http { host: asked, .. } = target else {
        return Ok(Followed { diagnosis: first, answered: None });
    };
    let mut hops: Vec<(Target, Diagnosis)> = vec![(target.clone(), first)];
    let mut redirects: Vec<Redirect> = Vec::new();
    let mut ending: Option<Cause> = None;
    loop {
        let (from, current) = hops.last().expect("the first URL is always there");
        let Some((status, location)) = redirect_of(current) else { break };
        let next = resolve(from, &location);
        let mut redirect = Redirect {
            from: from.to_string(),
            status,
            location,
            to: next.as_ref().map(ToString::to_string),
            not_followed: None,
        };
        let Some(next) = next else {
            redirect.not_followed = Some(if redirect.location.is_empty() {
                "no Location header porthole can read".to_string()
            } else {
                "not an http:// or https:// URL".to_string()
            });
            redirects.push(redirect);
            break;
        };
        // `--status 301`: the redirect itself is the answer asked for.
        if request.statuses != readiness::StatusSet::default() && request.statuses.contains(status)
        {
            redirect.not_followed =
                Some(format!("{status} is among the accepted statuses ({})", request.statuses));
            redirects.push(redirect);
            break;
        }
        let next_host = next.host().cloned().unwrap_or(Host::Name("localhost".to_string()));
        if !is_local(&next_host, asked) {
            redirect.not_followed = Some(format!(
                "{next_host} is not this machine, and porthole sends no traffic off it"
            ));
            redirects.push(redirect);
            break;
        }
        if hops.iter().any(|(seen, _)| *seen == next) {
            redirect.not_followed = Some("it leads back to a URL already asked".to_string());
            redirects.push(redirect);
            ending = Some(endless(target, &redirects, &next.to_string()));
            break;
        }
        if redirects.len() == MAX_REDIRECTS {
            redirect.not_followed = Some(format!("more than {MAX_REDIRECTS} redirects"));
            redirects.push(redirect);
            ending = Some(endless(target, &redirects, ""));
            break;
        }
        redirects.push(redirect);
        let diagnosis = causes::diagnose_target(system, &next, request)?;
        hops.push((next, diagnosis));
    }
    if redirects.is_empty() {
        let (_, diagnosis) = hops.pop().expect("the first URL is always there");
        return Ok(Followed { diagnosis, answered: None });
    }
    Ok(combine(hops, redirects, ending))
}

/// One diagnosis of the URLs reached: every attempt, listener and cause,
/// the causes of the last URL reached saying how it was reached.
fn combine(
    hops: Vec<(Target, Diagnosis)>,
    redirects: Vec<Redirect>,
    ending: Option<Cause>,
) -> Followed {
    let last = hops.len() - 1;
    let chain: Vec<String> = redirects.iter().map(Redirect::line).collect();
    let mut hops = hops.into_iter();
    let (_, mut combined) = hops.next().expect("the first URL is always there");
    let asked = combined.target.clone();
    // A followed redirect's status is judged by where it leads.
    if last > 0 {
        combined.causes.retain(|cause| cause.id != CauseId::HttpError);
    }
    let mut answered = combined.attempts.iter().any(|attempt| attempt.healthy);
    for (index, (url, diagnosis)) in hops.enumerate() {
        let hop = index + 1;
        // The redirect that led here: redirects[hop - 1] was followed.
        let came_by = &redirects[index];
        let port = url.port().unwrap_or_default();
        answered = diagnosis.attempts.iter().any(|attempt| attempt.healthy);
        for mut attempt in diagnosis.attempts {
            attempt.detail = format!("redirect {hop}, {url}: {}", attempt.detail);
            combined.attempts.push(attempt);
        }
        combined.add_listeners(diagnosis.listeners);
        combined.processes.extend(diagnosis.processes);
        combined.user_names.extend(diagnosis.user_names);
        for mut cause in diagnosis.causes {
            if hop < last && cause.id == CauseId::HttpError {
                continue;
            }
            if !causes::blame_redirect(&mut cause, port, came_by) {
                cause.summary = format!("{} (reached by a redirect from {asked})", cause.summary);
            }
            if hop == last {
                cause.evidence.extend(chain.iter().cloned());
            }
            combined.causes.push(cause);
        }
    }
    if let Some(cause) = ending {
        combined.causes.push(cause);
    }
    combined.causes.sort_by_key(|cause| cause.severity);
    combined.redirects = redirects;
    Followed { diagnosis: combined, answered: Some(answered) }
}

/// The cause of redirects that never end: back to a URL already asked
/// (`again`), or more than [`MAX_REDIRECTS`] of them (`again` empty).
fn endless(target: &Target, redirects: &[Redirect], again: &str) -> Cause {
    let summary = if again.is_empty() {
        format!("{target} redirects more than {MAX_REDIRECTS} times: clients give up")
    } else if redirects.len() == 1 {
        format!("{target} redirects to itself: clients loop until they give up")
    } else {
        format!("the redirects of {target} lead back to {again}: clients loop until they give up")
    };
    let mut evidence: Vec<String> = redirects.iter().map(Redirect::line).collect();
    evidence.push(
        "a redirect back to the URL asked is often an application behind a proxy that does not pass on the scheme or host it was asked with (X-Forwarded-Proto, Host)".to_string(),
    );
    Cause {
        id: CauseId::RedirectLoop,
        severity: Severity::Error,
        summary,
        evidence,
        fix: vec![crate::model::diagnosis::Fix::step(
            "have the application answer the last URL itself, or redirect it to a URL that answers (its base URL or trusted-proxy setting)",
        )],
    }
}

/// The status and `Location` of a redirect among the attempts of
/// `diagnosis`: the first address that answered with one, whether or not
/// `--status` accepts it (the last URL's answer is judged). A redirect
/// status whose `Location` is missing or did not parse (a control
/// character in a header ends the head's parse) gives an empty one, named
/// as such.
fn redirect_of(diagnosis: &Diagnosis) -> Option<(u16, String)> {
    diagnosis.attempts.iter().find_map(|attempt| match &attempt.reply {
        Some(Reply::Http(response)) if REDIRECTS.contains(&response.status) => {
            Some((response.status, response.location.clone().unwrap_or_default()))
        }
        Some(Reply::Http(response)) if (300..=399).contains(&response.status) => {
            response.location.clone().map(|location| (response.status, location))
        }
        _ => None,
    })
}

/// The statuses that send a client elsewhere, and must name where.
/// See: <https://www.rfc-editor.org/rfc/rfc9110#section-15.4>
const REDIRECTS: [u16; 5] = [301, 302, 303, 307, 308];

/// Whether `host` is this machine: a loopback address or one of this
/// namespace's own, `localhost` or a name under it (RFC 6761), or the
/// host the user asked (which porthole already connects to). Any other
/// name is not resolved: a DNS query may leave the machine.
pub fn is_local(host: &Host, asked: &Host) -> bool {
    match host {
        Host::Ip(ip) => host == asked || readiness::is_local(*ip),
        Host::Name(name) => {
            is_localhost(name)
                || matches!(asked, Host::Name(asked) if asked.eq_ignore_ascii_case(name))
        }
        // A link-local address may be any host on the link.
        Host::Scoped { .. } => host == asked,
    }
}

/// `location` resolved against the URL `from` (RFC 3986 §5.2, without
/// removing `.` and `..` segments, which the server reads as it wishes):
/// an absolute `http://`/`https://` URL, a scheme-relative `//host/path`,
/// an absolute path, a query, or a path relative to `from`'s directory.
/// `None` for any other scheme, or a URL porthole's target parser refuses
/// (a control character, a bad port).
/// See: <https://www.rfc-editor.org/rfc/rfc9110#section-10.2.2>
pub fn resolve(from: &Target, location: &str) -> Option<Target> {
    let Target::Http { tls, host, port, path } = from else { return None };
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    let scheme = if *tls { "https" } else { "http" };
    let origin = format!("{scheme}://{}", super::host_header(host, *port));
    let url = if let Some((name, _)) = location.split_once(':').filter(|(name, _)| {
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    }) {
        if !(name.eq_ignore_ascii_case("http") || name.eq_ignore_ascii_case("https")) {
            return None;
        }
        location.to_string()
    } else if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{origin}{location}")
    } else if location.starts_with('?') {
        let base = path.split_once('?').map_or(path.as_str(), |(base, _)| base);
        format!("{origin}{base}{location}")
    } else {
        let base = path.split_once('?').map_or(path.as_str(), |(base, _)| base);
        let directory = base.rfind('/').map_or("/", |slash| &base[..=slash]);
        format!("{origin}{directory}{location}")
    };
    match Target::parse(&url) {
        Ok(target @ Target::Http { .. }) => Some(target),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Target {
        Target::parse(text).expect("a URL")
    }

    fn resolved(from: &str, location: &str) -> Option<String> {
        resolve(&url(from), location).map(|target| target.to_string())
    }

    #[test]
    fn locations_resolve_against_the_url_asked() {
        let from = "http://127.0.0.1:3000/app/page?x=1";
        assert_eq!(resolved(from, "/login").as_deref(), Some("http://127.0.0.1:3000/login"));
        assert_eq!(resolved(from, "next").as_deref(), Some("http://127.0.0.1:3000/app/next"));
        assert_eq!(resolved(from, "?y=2").as_deref(), Some("http://127.0.0.1:3000/app/page?y=2"));
        assert_eq!(
            resolved(from, "https://localhost:8443/").as_deref(),
            Some("https://localhost:8443/")
        );
        assert_eq!(
            resolved(from, "//localhost:4000/a").as_deref(),
            Some("http://localhost:4000/a")
        );
        assert_eq!(resolved("http://[::1]:80/", "/x").as_deref(), Some("http://[::1]:80/x"));
        assert_eq!(resolved("https://localhost/", "/").as_deref(), Some("https://localhost:443/"));
        // Other schemes are not followed, nor is what the parser refuses.
        assert_eq!(resolved(from, "ftp://127.0.0.1/"), None);
        assert_eq!(resolved(from, "mailto:a@b"), None);
        assert_eq!(resolved(from, " "), None);
        assert_eq!(resolved(from, "/a\u{1b}[31m"), None);
        assert_eq!(resolved(from, "http://127.0.0.1:0/"), None);
    }

    #[test]
    fn only_this_machine_is_followed() {
        let asked = Host::Name("myapp.test".to_string());
        let local = |host: Host| is_local(&host, &asked);
        assert!(local(Host::Ip("127.0.0.2".parse().unwrap())));
        assert!(local(Host::Ip("::1".parse().unwrap())));
        assert!(local(Host::Name("localhost".to_string())));
        assert!(local(Host::Name("app.localhost".to_string())));
        assert!(local(Host::Name("MyApp.test".to_string())));
        assert!(!local(Host::Name("example.com".to_string())));
        assert!(!local(Host::Ip("192.0.2.1".parse().unwrap())));
    }
}
