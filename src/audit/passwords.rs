//! The `weak-password` check (`--active` only): after probing, every
//! service that asked for a password (an `AuthRequired` observation) and
//! that porthole has a login client for — Redis, PostgreSQL, MySQL/MariaDB,
//! MongoDB, Elasticsearch/OpenSearch, RabbitMQ, Jupyter, memcached (ASCII
//! `-Y` and SASL `PLAIN`) ([`login`]) — gets
//! a short list of default credentials.
//!
//! # Limits
//! - at most [`login::MAX_ATTEMPTS`] attempts per service per run, one per
//!   connection, [`login::SPACING`] apart;
//! - the first success ends the list;
//! - a lockout or rate-limit sign ends it too: an error naming a blocked
//!   host or account or too many connections, or a failure answered
//!   after more than [`login::SLOW_FAILURE`] (PostgreSQL `auth_delay`);
//! - an unsupported method or a broken connection ends it as well.
//!
//! Every attempt is counted in the [`LoginReport`]; the password that
//! worked is dropped unless `--show` asked for it, so it never reaches
//! the table, JSON or SARIF by default. Services in other network
//! namespaces are tried from a thread that enters the namespace.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::probes::conn::Deadline;
use super::probes::login::{self, Attempt, Credential, Service};
use super::probes::{
    http_auth, memcached_auth, mongodb_auth, mysql_auth, postgres_auth, redis_auth, Observation,
    Outcome,
};
use super::Target;
use crate::model::LoginReport;

/// How to run the check.
#[derive(Debug, Clone)]
pub struct PasswordOptions {
    /// The site's own `user:password` entries (`--passwords FILE`).
    pub site: Vec<Credential>,
    /// Keep the password that worked in the report (`--show`).
    pub show: bool,
    /// Bound of each connect, read and write.
    pub timeout: Duration,
    /// Pause between attempts against one service.
    pub spacing: Duration,
}

/// How a run of attempts against one service ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sequence {
    /// (user, attempts) in the order tried.
    pub accounts: Vec<(String, usize)>,
    pub attempts: usize,
    /// The credential that worked.
    pub accepted: Option<Credential>,
    pub stopped: Option<String>,
    /// Candidates the per-service cap left out.
    pub left_out: usize,
    /// The candidates after the one that stopped the list, by account:
    /// (user, candidates). Empty when the list ran to its end or a
    /// login got in.
    pub not_tried: Vec<(String, usize)>,
    /// The server blocked this machine's address (MySQL/MariaDB ERR
    /// 1129): the rest of the list needs the server to unblock it first.
    pub host_blocked: bool,
}

/// Runs `candidates` through `try_one` (which returns the result and how
/// long the server took), calling `pause` between attempts, and stops at
/// the first success or sign of trouble.
pub fn run_sequence(
    candidates: &[Credential],
    mut try_one: impl FnMut(&Credential) -> (Attempt, Duration),
    mut pause: impl FnMut(),
) -> Sequence {
    let mut sequence = Sequence::default();
    let mut tried = 0;
    for (index, candidate) in candidates.iter().enumerate() {
        tried = index + 1;
        if index > 0 {
            pause();
        }
        let (result, took) = try_one(candidate);
        sequence.attempts += 1;
        match sequence.accounts.iter_mut().find(|(user, _)| *user == candidate.user) {
            Some((_, count)) => *count += 1,
            None => sequence.accounts.push((candidate.user.clone(), 1)),
        }
        match result {
            Attempt::Accepted => {
                sequence.accepted = Some(candidate.clone());
                break;
            }
            // A slow failure, or no verdict before the timeout, is how
            // auth_delay and connection_control show themselves.
            Attempt::Rejected | Attempt::Failed(_) if took > login::SLOW_FAILURE => {
                sequence.stopped = Some(format!(
                    "a failed login took {:.1}s: the server delays failures (auth_delay or a rate limit), no more attempts",
                    took.as_secs_f64()
                ));
                break;
            }
            Attempt::Rejected => {}
            Attempt::Blocked(reason) => {
                // Our own "ERR {code} …" prefix (mysql_auth::classify_error).
                sequence.host_blocked = reason.starts_with("ERR 1129 ");
                sequence.stopped =
                    Some(format!("lockout or rate-limit sign ({reason}), no more attempts"));
                break;
            }
            Attempt::Unsupported(reason) => {
                sequence.stopped = Some(format!("not tried further: {reason}"));
                break;
            }
            Attempt::Failed(reason) => {
                sequence.stopped = Some(format!("stopped: {reason}"));
                break;
            }
        }
    }
    if sequence.stopped.is_some() {
        for candidate in &candidates[tried..] {
            match sequence.not_tried.iter_mut().find(|(user, _)| *user == candidate.user) {
                Some((_, count)) => *count += 1,
                None => sequence.not_tried.push((candidate.user.clone(), 1)),
            }
        }
    }
    sequence
}

/// The login client of a probed service, if it asked for a password and
/// no other check already found a way in. RabbitMQ's management API is
/// recognised by its owner (the Erlang VM running `rabbit`): the probe
/// sees only a generic HTTP server.
pub fn applicable(outcome: &Outcome, target: &Target) -> Option<Service> {
    // The login clients speak TCP: a Unix socket file is not tried.
    if target.unix.is_some() {
        return None;
    }
    let name = outcome.service.as_deref()?;
    let rabbit = target
        .owners
        .iter()
        .any(|p| p.name.starts_with("beam") && p.command_line().contains("rabbit"));
    if rabbit && matches!(name, "http" | "https") {
        return Some(Service::RabbitMq);
    }
    let service = match Service::of(name)? {
        Service::Memcached if outcome.memcached_sasl.is_some() => Service::MemcachedSasl,
        service => service,
    };
    let mut asked = false;
    for observation in &outcome.observations {
        match observation {
            Observation::AuthRequired { .. } => asked = true,
            // Already open: no-auth, trust-auth or empty-password says so.
            Observation::NoAuth { .. }
            | Observation::TrustAuth { .. }
            | Observation::LocalTrust { .. }
            | Observation::EmptyPassword { .. } => return None,
            _ => {}
        }
    }
    asked.then_some(service)
}

fn attempt(
    service: Service,
    target: &Target,
    sasl_mechanisms: Option<&str>,
    tls: bool,
    credential: &Credential,
    timeout: Duration,
    redis: &mut Option<redis_auth::LoggedIn>,
) -> Attempt {
    let Some(address) = target.connect else { return Attempt::Failed("no address".into()) };
    let deadline = Deadline::new(timeout, timeout * 4);
    let (user, password) = (credential.user.as_str(), credential.password.as_str());
    match service {
        Service::Redis => redis_auth::attempt(address, tls, user, password, &deadline, redis),
        Service::Postgres => postgres_auth::attempt(address, user, password, &deadline),
        Service::Mysql => mysql_auth::attempt(address, user, password, &deadline),
        Service::MongoDb => mongodb_auth::attempt(address, user, password, &deadline),
        Service::Elasticsearch => {
            http_auth::attempt_basic(address, tls, "/", user, password, &deadline)
        }
        Service::RabbitMq => {
            http_auth::attempt_basic(address, tls, "/api/whoami", user, password, &deadline)
        }
        Service::Jupyter if user == "token" => {
            http_auth::attempt_jupyter_token(address, tls, password, &deadline)
        }
        Service::Jupyter => http_auth::attempt_jupyter_password(address, tls, password, &deadline),
        Service::Memcached => memcached_auth::attempt_ascii(address, user, password, &deadline),
        Service::MemcachedSasl => {
            let mechanisms = sasl_mechanisms.unwrap_or_default();
            memcached_auth::attempt_sasl(address, mechanisms, user, password, &deadline)
        }
    }
}

fn check_one(
    service: Service,
    target: &Target,
    sasl_mechanisms: Option<&str>,
    tls: bool,
    options: &PasswordOptions,
) -> (Sequence, Option<redis_auth::LoggedIn>) {
    let (candidates, left_out) = login::candidates(service, &options.site);
    let mut redis = None;
    let mut sequence = run_sequence(
        &candidates,
        |credential| {
            let started = Instant::now();
            let result = attempt(
                service,
                target,
                sasl_mechanisms,
                tls,
                credential,
                options.timeout,
                &mut redis,
            );
            (result, started.elapsed())
        },
        || std::thread::sleep(options.spacing),
    );
    sequence.left_out = left_out;
    (sequence, redis)
}

/// Tries the lists against every applicable service, in parallel (each
/// service's own attempts stay sequential and spaced). Adds a
/// `WeakPassword` observation to the outcome of each service that let us
/// in, and returns the attempt counts (with, for a server that blocked this
/// machine's address, the command that unblocks it, found on `system`).
pub fn check_all(
    system: &dyn crate::inventory::system::System,
    targets: &[Target],
    outcomes: &mut [Option<Outcome>],
    handles: &BTreeMap<u64, String>,
    current_namespace: Option<u64>,
    options: &PasswordOptions,
) -> Vec<LoginReport> {
    let jobs: Vec<(usize, Service, bool)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(index, outcome)| {
            let outcome = outcome.as_ref()?;
            Some((index, applicable(outcome, &targets[index])?, outcome.tls))
        })
        .filter(|(index, _, _)| targets[*index].connect.is_some())
        .collect();
    let mut results: Vec<(usize, Service, (Sequence, Option<redis_auth::LoggedIn>))> = Vec::new();
    // Sixteen services at a time: each thread mostly sleeps.
    for batch in jobs.chunks(16) {
        let finished: Vec<_> = std::thread::scope(|scope| {
            let running: Vec<_> = batch
                .iter()
                .map(|&(index, service, tls)| {
                    let target = &targets[index];
                    // memcached with SASL: the mechanisms it offered.
                    let sasl_mechanisms =
                        outcomes[index].as_ref().and_then(|o| o.memcached_sasl.as_deref());
                    let foreign = target
                        .net_namespace
                        .filter(|ns| Some(*ns) != current_namespace)
                        .and_then(|ns| handles.get(&ns));
                    scope.spawn(move || {
                        if let Some(handle) = foreign {
                            // setns() changes this thread only; it ends with the job.
                            if let Err(error) = crate::sys::netns::enter(handle) {
                                let sequence = Sequence {
                                    stopped: Some(format!(
                                        "could not enter network namespace: {error}"
                                    )),
                                    ..Sequence::default()
                                };
                                return (sequence, None);
                            }
                        }
                        check_one(service, target, sasl_mechanisms, tls, options)
                    })
                })
                .collect();
            batch
                .iter()
                .zip(running)
                .map(|(&(index, service, _), handle)| {
                    let sequence = handle.join().unwrap_or_else(|_| {
                        let sequence = Sequence {
                            stopped: Some("login thread failed".into()),
                            ..Sequence::default()
                        };
                        (sequence, None)
                    });
                    (index, service, sequence)
                })
                .collect()
        });
        results.extend(finished);
    }

    let mut reports = Vec::new();
    for (index, _service, (sequence, redis)) in results {
        let target = &targets[index];
        let Some(outcome) = outcomes[index].as_mut() else { continue };
        if let Some(credential) = &sequence.accepted {
            // A Redis that asked for a password said nothing about its
            // settings to the probe; it does once logged in.
            if let Some(settings) = redis.as_ref().and_then(|found| found.settings.clone()) {
                outcome.settings.get_or_insert(settings);
            }
            outcome.observations.push(Observation::WeakPassword {
                user: credential.user.clone(),
                password: options.show.then(|| credential.password.clone()),
                attempts: sequence.attempts,
                site: credential.site,
                config_command: redis.as_ref().map(|found| found.config_command),
                no_password: redis.as_ref().is_some_and(|found| found.no_password),
            });
        }
        outcome.probes.push(format!(
            "login attempts (active): {}",
            sequence
                .accounts
                .iter()
                .map(|(user, count)| format!("{user} ×{count}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        reports.push(LoginReport {
            port: target.port,
            address: target.address.clone(),
            net_namespace: target.net_namespace,
            service: outcome.service.clone().unwrap_or_default(),
            accounts: sequence.accounts.clone(),
            attempts: sequence.attempts,
            accepted: sequence.accepted.as_ref().map(|c| c.user.clone()),
            password: sequence
                .accepted
                .as_ref()
                .filter(|_| options.show)
                .map(|c| c.password.clone()),
            from_site_list: sequence.accepted.as_ref().is_some_and(|c| c.site),
            stopped: sequence.stopped,
            left_out: sequence.left_out,
            not_tried: sequence.not_tried,
            // TCP from the blocked address is refused until the server
            // forgets it; its Unix socket never is.
            unblock: sequence.host_blocked.then(|| {
                let owner = target.owners.first().map(|o| (o.pid, o.name.as_str(), &o.cmdline[..]));
                super::mysql_options::flush_hosts_command(system, owner)
            }),
        });
    }
    reports.sort_by(|a, b| a.port.cmp(&b.port).then(a.address.cmp(&b.address)));
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> Vec<Credential> {
        pairs
            .iter()
            .map(|(u, p)| Credential { user: (*u).into(), password: (*p).into(), site: false })
            .collect()
    }

    #[test]
    fn stops_at_the_first_success_and_counts_every_attempt() {
        let candidates =
            list(&[("default", "a"), ("default", "b"), ("admin", "c"), ("admin", "d")]);
        let mut pauses = 0;
        let sequence = run_sequence(
            &candidates,
            |c| {
                let result = if c.password == "c" { Attempt::Accepted } else { Attempt::Rejected };
                (result, Duration::from_millis(5))
            },
            || pauses += 1,
        );
        assert_eq!(sequence.attempts, 3);
        assert_eq!(sequence.accounts, [("default".to_string(), 2), ("admin".to_string(), 1)]);
        assert_eq!(sequence.accepted.unwrap().password, "c");
        assert_eq!(pauses, 2, "a pause between attempts, none before the first");
    }

    #[test]
    fn lockout_signs_and_slow_failures_stop_the_list() {
        let candidates = list(&[("root", "a"), ("root", "b"), ("root", "c")]);
        let blocked = run_sequence(
            &candidates,
            |_| (Attempt::Blocked("ERR 1129 Host blocked".into()), Duration::ZERO),
            || {},
        );
        assert_eq!(blocked.attempts, 1);
        assert!(blocked.stopped.unwrap().contains("lockout"));
        assert!(blocked.host_blocked);
        assert_eq!(blocked.not_tried, [("root".to_string(), 2)]);
        // Too many connections is no blocked host: no flush-hosts.
        let busy = run_sequence(
            &list(&[("root", "a"), ("admin", "b"), ("root", "c")]),
            |c| match c.password.as_str() {
                "a" => (Attempt::Rejected, Duration::ZERO),
                _ => (Attempt::Blocked("ERR 1040 Too many connections".into()), Duration::ZERO),
            },
            || {},
        );
        assert!(!busy.host_blocked);
        assert_eq!(busy.not_tried, [("root".to_string(), 1)]);

        let slow =
            run_sequence(&candidates, |_| (Attempt::Rejected, Duration::from_secs(3)), || {});
        assert_eq!(slow.attempts, 1);
        assert!(slow.stopped.unwrap().contains("took 3.0s"));

        let none = run_sequence(&candidates, |_| (Attempt::Rejected, Duration::ZERO), || {});
        assert_eq!((none.attempts, none.accepted, none.stopped), (3, None, None));
        assert!(none.not_tried.is_empty());
    }

    #[test]
    fn only_password_protected_services_are_tried() {
        let asked = Outcome {
            service: Some("redis".into()),
            observations: vec![Observation::AuthRequired { evidence: "NOAUTH".into() }],
            ..Outcome::default()
        };
        let target = crate::audit::rules::testing::target("127.0.0.1", 6379);
        assert_eq!(applicable(&asked, &target), Some(Service::Redis));
        let open = Outcome {
            observations: vec![Observation::NoAuth {
                evidence: "PONG".into(),
                fix: String::new(),
                impact: super::super::probes::Impact::Control,
            }],
            ..asked.clone()
        };
        assert_eq!(applicable(&open, &target), None);
        let unknown = Outcome { service: Some("ssh".into()), ..asked.clone() };
        assert_eq!(applicable(&unknown, &target), None);
        // memcached: ASCII authentication unless the probe saw SASL.
        let memcached = Outcome { service: Some("memcached".into()), ..asked.clone() };
        assert_eq!(applicable(&memcached, &target), Some(Service::Memcached));
        let sasl = Outcome { memcached_sasl: Some("PLAIN".into()), ..memcached };
        assert_eq!(applicable(&sasl, &target), Some(Service::MemcachedSasl));
        // RabbitMQ's management API is a generic HTTP server to the probe.
        let mut rabbit = crate::audit::rules::testing::target("127.0.0.1", 15672);
        rabbit.owners[0].name = "beam.smp".into();
        rabbit.owners[0].cmdline =
            vec!["/usr/lib/erlang/erts/bin/beam.smp".into(), "-s".into(), "rabbit".into()];
        let http = Outcome { service: Some("http".into()), observations: vec![], ..asked };
        assert_eq!(applicable(&http, &rabbit), Some(Service::RabbitMq));
        assert_eq!(applicable(&http, &target), None);
    }
}
