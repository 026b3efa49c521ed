//! libpq's own judgement of a PostgreSQL server's certificate, for
//! `sslmode=verify-ca` and `verify-full` (and `require` when the root file
//! exists, as libpq keeps for compatibility). The probe itself accepts any
//! certificate (see [`super::tls`]); this module says whether libpq would
//! have gone on, in libpq's words:
//!
//! 1. The root file: `sslrootcert=`, else `PGSSLROOTCERT`, else
//!    `~/.postgresql/root.crt` of the client's `HOME`; `sslrootcert=system`
//!    is the system's trusted authorities (libpq 16 and later). Missing, the
//!    verifying modes stop with "root certificate file "…" does not exist"
//!    (`require` goes on unchecked); holding no certificate, with "could not
//!    read root certificate file "…": no certificate or crl found".
//! 2. The chain must lead to a certificate of that file (OpenSSL's check:
//!    "SSL error: certificate verify failed"); a self-signed server
//!    certificate that is itself in the file is its own anchor.
//! 3. `verify-full` only: the host name (libpq's `host`, also when
//!    `hostaddr` gives the address) must match a subjectAltName entry of
//!    its kind (DNS name, one leading `*.` label, any case; or IP address),
//!    or the common name when there is no entry of that kind.
//!
//! See: <https://www.postgresql.org/docs/current/libpq-ssl.html>
//! and `src/interfaces/libpq/fe-secure-common.c` for the name rules.

use std::net::IpAddr;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};

use super::certificate::{self, CertificateFacts};
use super::target::{Libpq, RootCertificates, SslMode};

/// Why libpq stops after the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// libpq's message, as `psql` prints it after "failed: ".
    pub message: String,
    /// The facts it rests on: the certificate met, the root file used.
    pub evidence: String,
}

/// The first line of each refusal, as libpq words it (for recognising
/// the answer again in [`super::causes`]).
pub const NO_ROOT_FILE: &str = "root certificate file";
pub const UNREADABLE_ROOT_FILE: &str = "could not read root certificate file";
pub const NO_HOME: &str = "could not get home directory to locate root certificate file";
pub const VERIFY_FAILED: &str = "SSL error: certificate verify failed";
pub const NAME_MISMATCH: &str = "server certificate for";
pub const NO_NAME: &str = "could not get server's host name from server certificate";

/// Whether `libpq` has libpq check the server's certificate at all.
pub fn checks(libpq: &Libpq) -> bool {
    libpq.sslmode.needs_tls() && libpq.root.is_some()
}

/// The certificates in the root file, or the refusal of a verifying mode
/// (`Ok(None)`: `require` without a file checks nothing).
fn roots(libpq: &Libpq) -> Result<Option<Vec<CertificateDer<'static>>>, Refusal> {
    let verifying = matches!(libpq.sslmode, SslMode::VerifyCa | SslMode::VerifyFull);
    let Some(root) = &libpq.root else { return Ok(None) };
    let hint =
        "Either provide the file or change sslmode to disable server certificate verification.";
    let Some(file) = root.file() else {
        return match verifying {
            true => Err(Refusal {
                message: format!("{NO_HOME}\n{hint}"),
                evidence:
                    "no sslrootcert, no PGSSLROOTCERT and no HOME in the client's environment"
                        .to_string(),
            }),
            false => Ok(None),
        };
    };
    let (path, what) = match root.system() {
        true => (super::tls::system_bundle(), "the system's trusted authorities"),
        false => (Some(std::path::PathBuf::from(file)), ""),
    };
    let described = match what {
        "" => format!("root file {file} ({})", root.origin()),
        what => format!("{what} (sslrootcert=system)"),
    };
    let Some(path) = path.filter(|path| path.exists()) else {
        return match verifying {
            true => Err(Refusal {
                message: format!("{NO_ROOT_FILE} \"{file}\" does not exist\n{hint}"),
                evidence: format!("{described}: no such file"),
            }),
            false => Ok(None),
        };
    };
    let certificates: Vec<_> = match CertificateDer::pem_file_iter(&path) {
        Ok(found) => found.flatten().collect(),
        Err(error) => {
            return Err(Refusal {
                message: format!("{UNREADABLE_ROOT_FILE} \"{file}\": {error}"),
                evidence: format!("{described}: {error}"),
            })
        }
    };
    if certificates.is_empty() {
        return Err(Refusal {
            message: format!("{UNREADABLE_ROOT_FILE} \"{file}\": no certificate or crl found"),
            evidence: format!("{described}: holds no PEM certificate"),
        });
    }
    Ok(Some(certificates))
}

/// A certificate's facts in one phrase.
fn describe(facts: Option<&CertificateFacts>) -> String {
    let Some(facts) = facts else { return "a certificate porthole cannot read".to_string() };
    let mut names: Vec<String> = facts.dns_names.clone();
    names.extend(facts.ip_addresses.iter().map(IpAddr::to_string));
    let names = match names.is_empty() {
        true => "no subjectAltName".to_string(),
        false => format!("names {}", names.join(", ")),
    };
    format!("subject {}, issuer {}, {names}", facts.subject, facts.issuer)
}

/// What libpq says of the chain the server sent (`chain[0]` is the
/// server's own), for the name `host`; `None` when libpq goes on.
pub fn judge(libpq: &Libpq, host: &str, chain: &[CertificateDer<'_>]) -> Option<Refusal> {
    let facts = chain.first().and_then(|end_entity| certificate::read(end_entity.as_ref()));
    let server = format!("the server's certificate: {}", describe(facts.as_ref()));
    let roots = match roots(libpq) {
        Ok(Some(roots)) => roots,
        Ok(None) => return None,
        Err(refusal) => {
            let evidence = format!("{server}; {}", refusal.evidence);
            return Some(Refusal { evidence, ..refusal });
        }
    };
    let root = libpq.root.as_ref()?;
    let file = root.file().unwrap_or_default();
    let Some(end_entity) = chain.first() else {
        return Some(Refusal {
            message: VERIFY_FAILED.to_string(),
            evidence: "the server sent no certificate".to_string(),
        });
    };
    let root_names: Vec<String> = roots
        .iter()
        .filter_map(|root| certificate::read(root.as_ref()))
        .map(|facts| facts.subject)
        .collect();
    if let Err(error) = chain_verifies(end_entity, &chain[1..], &roots, facts.as_ref()) {
        let against = match root.system() {
            true => {
                let bundle = super::tls::system_bundle().unwrap_or_default();
                let count = match roots.len() {
                    1 => "1 certificate".to_string(),
                    n => format!("{n} certificates"),
                };
                format!(
                    "the system's trusted authorities (sslrootcert=system: {}, {count})",
                    bundle.display()
                )
            }
            false => {
                let held = match root_names.len() {
                    0..=3 => root_names.join("; "),
                    n => format!("{} and {} more", root_names[..3].join("; "), n - 3),
                };
                format!("{file} ({}), which holds {held}", root.origin())
            }
        };
        return Some(Refusal {
            message: VERIFY_FAILED.to_string(),
            evidence: format!("{server}; it does not verify against {against}: {error}"),
        });
    }
    if libpq.sslmode != SslMode::VerifyFull {
        return None;
    }
    let facts = facts?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match name_matches(&facts, host) {
        NameCheck::Matches => None,
        NameCheck::NoName => {
            Some(Refusal { message: NO_NAME.to_string(), evidence: server })
        }
        NameCheck::Mismatch { first, others } => Some(Refusal {
            message: match others {
                0 => format!("{NAME_MISMATCH} \"{first}\" does not match host name \"{host}\""),
                1 => format!(
                    "{NAME_MISMATCH} \"{first}\" (and 1 other name) does not match host name \"{host}\""
                ),
                n => format!(
                    "{NAME_MISMATCH} \"{first}\" (and {n} other names) does not match host name \"{host}\""
                ),
            },
            evidence: server,
        }),
    }
}

/// Whether the chain leads to one of `roots`, as OpenSSL checks it for
/// libpq (no name, no purpose beyond the server's).
fn chain_verifies(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    roots: &[CertificateDer<'static>],
    facts: Option<&CertificateFacts>,
) -> Result<(), String> {
    // A self-signed certificate in the file is its own trust anchor.
    let self_signed = facts.is_some_and(CertificateFacts::self_issued);
    if self_signed && roots.iter().any(|root| root.as_ref() == end_entity.as_ref()) {
        return Ok(());
    }
    let mut store = rustls::RootCertStore::empty();
    let (_, refused) = store.add_parsable_certificates(roots.iter().cloned());
    if store.is_empty() {
        return Err(format!("none of its {refused} certificate(s) can be an authority"));
    }
    let provider = rustls::crypto::ring::default_provider();
    let algorithms = provider.signature_verification_algorithms.all;
    let parsed = match rustls::server::ParsedCertificate::try_from(end_entity) {
        Ok(parsed) => parsed,
        // webpki takes no X.509 v1 certificate (what `openssl x509 -req`
        // makes without extensions); OpenSSL does, so one a root of the file
        // signed directly is checked here: issuer, signature and validity.
        Err(error) => {
            let signed = certificate::signed(end_entity.as_ref());
            let issuer = facts.map(|facts| facts.issuer.as_str());
            let signed_by_root = roots.iter().any(|root| {
                let subject = certificate::read(root.as_ref()).map(|facts| facts.subject);
                subject.as_deref() == issuer
                    && certificate::public_key(root.as_ref()).zip(signed).is_some_and(
                        |(key, signed)| certificate::verifies(&signed, &key, algorithms),
                    )
            });
            return match (signed_by_root, facts.map(CertificateFacts::valid_now)) {
                (true, Some(Ok(()))) => Ok(()),
                (true, Some(Err(problem))) => Err(problem),
                _ if issuer.is_some() => Err("its issuer is not there".to_string()),
                _ => Err(error.to_string()),
            };
        }
    };
    rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &store,
        intermediates,
        UnixTime::now(),
        algorithms,
    )
    .map_err(|error| match error {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            "its issuer is not there".to_string()
        }
        other => other.to_string(),
    })
}

/// The outcome of libpq's host name check.
#[derive(Debug, PartialEq, Eq)]
enum NameCheck {
    Matches,
    /// The certificate carries no name of any kind.
    NoName,
    /// The first name looked at, and how many more were.
    Mismatch {
        first: String,
        others: usize,
    },
}

/// libpq's check of `host` against the certificate: every subjectAltName
/// entry is looked at; the common name too when no entry is of the host's
/// kind (DNS name or IP address).
fn name_matches(facts: &CertificateFacts, host: &str) -> NameCheck {
    let address = host.parse::<IpAddr>().ok();
    let mut examined: Vec<String> = Vec::new();
    for name in &facts.dns_names {
        if dns_name_matches(name, host) {
            return NameCheck::Matches;
        }
        examined.push(name.clone());
    }
    for ip in &facts.ip_addresses {
        if Some(*ip) == address {
            return NameCheck::Matches;
        }
        examined.push(ip.to_string());
    }
    let of_kind = match address {
        Some(_) => !facts.ip_addresses.is_empty(),
        None => !facts.dns_names.is_empty(),
    };
    if !of_kind {
        if let Some(common_name) = &facts.common_name {
            if dns_name_matches(common_name, host) {
                return NameCheck::Matches;
            }
            examined.push(common_name.clone());
        }
    }
    match examined.split_first() {
        None => NameCheck::NoName,
        Some((first, others)) => NameCheck::Mismatch { first: first.clone(), others: others.len() },
    }
}

/// A certificate name against a host name, as libpq compares them: any
/// case, and a leading `*.` standing for exactly one label.
fn dns_name_matches(name: &str, host: &str) -> bool {
    if name.eq_ignore_ascii_case(host) {
        return true;
    }
    match (name.strip_prefix('*'), host.find('.')) {
        (Some(suffix), Some(dot)) if suffix.starts_with('.') && suffix.len() > 1 => {
            dot > 0 && host[dot..].eq_ignore_ascii_case(suffix)
        }
        _ => false,
    }
}

/// The root file a fix saves a certificate to: the one libpq looks for.
pub fn root_file(root: &RootCertificates) -> Option<&str> {
    root.file().filter(|_| !root.system())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(dns: &[&str], ips: &[&str], common_name: Option<&str>) -> CertificateFacts {
        CertificateFacts {
            dns_names: dns.iter().map(|n| n.to_string()).collect(),
            ip_addresses: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
            common_name: common_name.map(str::to_string),
            ..CertificateFacts::default()
        }
    }

    #[test]
    fn host_names_match_as_libpq_matches_them() {
        let certificate = facts(&["db.test", "*.example.com"], &[], Some("ignored"));
        assert_eq!(name_matches(&certificate, "DB.test"), NameCheck::Matches);
        assert_eq!(name_matches(&certificate, "a.example.com"), NameCheck::Matches);
        // One label only, and never the bare domain.
        assert!(matches!(
            name_matches(&certificate, "a.b.example.com"),
            NameCheck::Mismatch { .. }
        ));
        assert!(matches!(name_matches(&certificate, "example.com"), NameCheck::Mismatch { .. }));
        // A DNS entry hides the common name from a DNS host.
        assert_eq!(
            name_matches(&certificate, "ignored"),
            NameCheck::Mismatch { first: "db.test".to_string(), others: 1 }
        );
    }

    #[test]
    fn an_ip_host_takes_the_common_name_without_ip_entries() {
        // As psql says: server certificate for "db.test" (and 2 other
        // names) does not match host name "127.0.0.1".
        let certificate = facts(&["db.test", "localhost"], &[], Some("db.test"));
        assert_eq!(
            name_matches(&certificate, "127.0.0.1"),
            NameCheck::Mismatch { first: "db.test".to_string(), others: 2 }
        );
        let with_ip = facts(&["db.test"], &["127.0.0.1"], Some("127.0.0.2"));
        assert_eq!(name_matches(&with_ip, "127.0.0.1"), NameCheck::Matches);
        assert_eq!(
            name_matches(&with_ip, "127.0.0.2"),
            NameCheck::Mismatch { first: "db.test".to_string(), others: 1 }
        );
        assert_eq!(name_matches(&facts(&[], &[], None), "db.test"), NameCheck::NoName);
        let only_cn = facts(&[], &[], Some("127.0.0.1"));
        assert_eq!(name_matches(&only_cn, "127.0.0.1"), NameCheck::Matches);
    }
}
