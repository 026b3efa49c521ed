//! TLS for probes: a rustls client that accepts any certificate.
//!
//! `check` and `wait` ask "does this port speak TLS, and does the service
//! behind it answer?", not "is this server who it claims to be": local dev
//! servers use self-signed certificates, and refusing them would hide the
//! answer. Signatures are still checked so a broken handshake is reported.
//!
//! An HTTPS probe also asks what a client that does verify would say
//! ([`verifying_probe_connection`]): the chain is checked against this
//! machine's trusted authorities (the bundle named by `SSL_CERT_FILE`, as
//! OpenSSL and curl take it, else the distribution's bundle) and the
//! verdict is kept beside the answer, so `check` can say why `curl` refuses
//! a port the probe reached.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::model::diagnosis::CertificateProblem;

/// Accepts every certificate chain, verifies handshake signatures; with a
/// `judge`, also records what the web PKI verifier with this machine's roots
/// says of the chain (see [`verifying_probe_connection`]).
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
    judge: Option<(Arc<MachineTrust>, CertificateVerdict)>,
    /// Where the chain the server sent is kept, for a judgement made after
    /// the handshake (libpq's, see [`super::libpq_tls`]).
    capture: Option<PresentedChain>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(capture) = &self.capture {
            let chain = std::iter::once(end_entity).chain(intermediates);
            capture.set(chain.map(|certificate| certificate.clone().into_owned()).collect());
        }
        let Some((trust, verdict)) = &self.judge else {
            return Ok(ServerCertVerified::assertion());
        };
        // Trusted as it is (a self-signed certificate installed in the
        // bundle): OpenSSL accepts it without building a chain.
        if trust.certificates.contains(end_entity.as_ref()) {
            return Ok(ServerCertVerified::assertion());
        }
        let judged = trust.verifier.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if let Err(error) = judged {
            verdict.set(problem_of(error));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        let checked = verify_tls12_signature(message, cert, dss, algorithms);
        self.or_with_own_key(checked, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        let checked = verify_tls13_signature(message, cert, dss, algorithms);
        self.or_with_own_key(checked, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

impl AnyCertificate {
    /// A handshake signature webpki could not check because it does not
    /// take the certificate itself (an X.509 v1 one, which `openssl x509
    /// -req` makes without extensions and OpenSSL clients such as libpq
    /// accept), checked with the certificate's key as read here: the
    /// server did answer, and "probe failed" would blame it.
    fn or_with_own_key(
        &self,
        checked: Result<HandshakeSignatureValid, rustls::Error>,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(_))) = &checked
        else {
            return checked;
        };
        let Some(key) = super::certificate::public_key(cert.as_ref()) else { return checked };
        let algorithms = &self.provider.signature_verification_algorithms;
        let for_scheme = algorithms.mapping.iter().find(|(scheme, _)| *scheme == dss.scheme);
        let verified = for_scheme.is_some_and(|(_, candidates)| {
            candidates.iter().any(|algorithm| {
                algorithm.public_key_alg_id().as_ref() == key.algorithm
                    && algorithm.verify_signature(key.key, message, dss.signature()).is_ok()
            })
        });
        match verified {
            true => Ok(HandshakeSignatureValid::assertion()),
            false => checked,
        }
    }
}

/// The client configuration for probes (TLS 1.2 and 1.3, ring, no trust
/// check), built once per run: `wait` probes every round, `audit` every
/// TLS port.
pub fn probe_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    static CONFIG: std::sync::OnceLock<Result<Arc<ClientConfig>, rustls::Error>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate {
                    provider,
                    judge: None,
                    capture: None,
                }))
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// A probe TLS connection to `host` (an IP literal or a name).
pub fn probe_connection(host: &str) -> Result<rustls::ClientConnection, rustls::Error> {
    rustls::ClientConnection::new(probe_config()?, server_name(host))
}

/// A probe TLS connection to `host` that accepts any certificate and
/// keeps the chain the server sent in the returned [`PresentedChain`].
pub fn capturing_probe_connection(
    host: &str,
) -> Result<(rustls::ClientConnection, PresentedChain), rustls::Error> {
    let chain = PresentedChain::default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let capturing =
        AnyCertificate { provider: provider.clone(), judge: None, capture: Some(chain.clone()) };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(capturing))
        .with_no_client_auth();
    Ok((rustls::ClientConnection::new(Arc::new(config), server_name(host))?, chain))
}

/// The certificates a server sent in its handshake, its own first.
#[derive(Debug, Clone, Default)]
pub struct PresentedChain(Arc<std::sync::Mutex<Vec<CertificateDer<'static>>>>);

impl PresentedChain {
    /// The chain, empty before the handshake got that far.
    pub fn take(&self) -> Vec<CertificateDer<'static>> {
        self.0.lock().map(|mut slot| std::mem::take(&mut *slot)).unwrap_or_default()
    }

    fn set(&self, chain: Vec<CertificateDer<'static>>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = chain;
        }
    }
}

/// What a verifying client would say of the certificate a connection met,
/// filled during its handshake.
#[derive(Debug, Clone, Default)]
pub struct CertificateVerdict(Arc<std::sync::Mutex<Option<CertificateProblem>>>);

impl CertificateVerdict {
    /// The problem found, if any (once).
    pub fn take(&self) -> Option<CertificateProblem> {
        self.0.lock().map(|mut slot| slot.take()).unwrap_or(None)
    }

    fn set(&self, problem: CertificateProblem) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(problem);
        }
    }
}

/// This machine's trusted authorities: the web PKI verifier built on them,
/// and the certificates themselves (DER), since OpenSSL-based clients also
/// accept a server certificate that is itself in the bundle.
#[derive(Debug)]
struct MachineTrust {
    verifier: Arc<rustls::client::WebPkiServerVerifier>,
    certificates: std::collections::HashSet<Vec<u8>>,
}

/// The trust bundles distributions install, in the order OpenSSL-based
/// clients look for them.
const CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The bundle of this machine's trusted authorities: `SSL_CERT_FILE`, else
/// the first of `CA_BUNDLES` that exists.
pub fn system_bundle() -> Option<std::path::PathBuf> {
    let named = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    named.or_else(|| CA_BUNDLES.iter().map(std::path::PathBuf::from).find(|path| path.is_file()))
}

/// This machine's trusted authorities, read once; `None` when no bundle
/// could be read (no verdict is given then).
fn machine_trust() -> Option<Arc<MachineTrust>> {
    static TRUST: std::sync::OnceLock<Option<Arc<MachineTrust>>> = std::sync::OnceLock::new();
    TRUST
        .get_or_init(|| {
            use rustls::pki_types::pem::PemObject;
            let path = system_bundle()?;
            let mut roots = rustls::RootCertStore::empty();
            let mut certificates = std::collections::HashSet::new();
            for certificate in CertificateDer::pem_file_iter(&path).ok()?.flatten() {
                certificates.insert(certificate.as_ref().to_vec());
                // A certificate webpki cannot take is skipped, as OpenSSL
                // skips what it cannot parse.
                let _ = roots.add(certificate);
            }
            if roots.is_empty() {
                return None;
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .ok()?;
            Some(Arc::new(MachineTrust { verifier, certificates }))
        })
        .clone()
}

/// A probe TLS connection to `host` that accepts any certificate and
/// records, in the returned verdict, whether a verifying client would have
/// (see the module docs). Without a trust bundle it is a plain
/// [`probe_connection`] whose verdict stays empty.
pub fn verifying_probe_connection(
    host: &str,
) -> Result<(rustls::ClientConnection, CertificateVerdict), rustls::Error> {
    let verdict = CertificateVerdict::default();
    let Some(trust) = machine_trust() else {
        return Ok((probe_connection(host)?, verdict));
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let judged = AnyCertificate {
        provider: provider.clone(),
        judge: Some((trust, verdict.clone())),
        capture: None,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(judged))
        .with_no_client_auth();
    Ok((rustls::ClientConnection::new(Arc::new(config), server_name(host))?, verdict))
}

/// A name the certificate presents, as rustls words it (`DnsName("x")`,
/// `IpAddress(127.0.0.1)`), as the name itself.
fn presented_name(name: &str) -> String {
    match name.split_once('(') {
        Some((kind, rest)) if kind.chars().all(|c| c.is_ascii_alphabetic()) => {
            rest.strip_suffix(')').unwrap_or(rest).trim_matches('"').to_string()
        }
        _ => name.to_string(),
    }
}

/// The verifier's refusal in the words `check` reasons with.
fn problem_of(error: rustls::Error) -> CertificateProblem {
    use rustls::CertificateError as E;
    let rustls::Error::InvalidCertificate(error) = error else {
        return CertificateProblem::Other(error.to_string());
    };
    match error {
        E::UnknownIssuer => CertificateProblem::UnknownIssuer,
        E::Expired => CertificateProblem::Expired { not_after: None },
        E::ExpiredContext { not_after, .. } => {
            CertificateProblem::Expired { not_after: Some(not_after.as_secs()) }
        }
        E::NotValidYet => CertificateProblem::NotYetValid { not_before: None },
        E::NotValidYetContext { not_before, .. } => {
            CertificateProblem::NotYetValid { not_before: Some(not_before.as_secs()) }
        }
        E::NotValidForName => {
            CertificateProblem::WrongName { expected: String::new(), presented: Vec::new() }
        }
        E::NotValidForNameContext { expected, presented } => CertificateProblem::WrongName {
            expected: match expected {
                ServerName::DnsName(name) => name.as_ref().to_string(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(ip).to_string(),
                other => format!("{other:?}"),
            },
            presented: presented.iter().map(|name| presented_name(name)).collect(),
        },
        // webpki refuses a certificate marked as a CA (what `openssl req
        // -x509` makes by default) as a server's before it looks for an
        // issuer; one that is not in the bundle is self-signed or from an
        // unknown CA either way, as OpenSSL reports it.
        other if format!("{other:?}").contains("CaUsedAsEndEntity") => {
            CertificateProblem::UnknownIssuer
        }
        other => CertificateProblem::Other(format!("{other:?}")),
    }
}

/// The server name to send: an IP literal or a DNS name.
pub fn server_name(host: &str) -> ServerName<'static> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(bare.to_string())
            .unwrap_or_else(|_| ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_lose_rustls_s_wording() {
        assert_eq!(presented_name("DnsName(\"other.test\")"), "other.test");
        assert_eq!(presented_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(presented_name("plain.example"), "plain.example");
    }
}
