//! What a server's X.509 certificate says about itself, read from its DER:
//! the subject and issuer (as `CN=…, O=…`), and the names a client checks
//! a host against (the subjectAltName's DNS names and IP addresses, and
//! the subject's common name).
//!
//! Only what a diagnosis shows is read; signatures and validity are the
//! verifier's business (rustls' webpki). A certificate that does not parse
//! gives `None`, never a panic: the bytes come from whoever runs the
//! server.
//! See: <https://www.rfc-editor.org/rfc/rfc5280#section-4.1>

use std::net::IpAddr;

/// The parts of a certificate a diagnosis quotes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertificateFacts {
    /// The subject as `CN=…, O=…` (the attributes named below only).
    pub subject: String,
    /// The issuer, in the same form.
    pub issuer: String,
    /// The subjectAltName's `dNSName` entries, in order.
    pub dns_names: Vec<String>,
    /// The subjectAltName's `iPAddress` entries, in order.
    pub ip_addresses: Vec<IpAddr>,
    /// The subject's common name (libpq checks it when the
    /// subjectAltName has no entry of the host's kind).
    pub common_name: Option<String>,
    /// The validity period, in seconds since the epoch (`None` when the
    /// time does not parse).
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
}

impl CertificateFacts {
    /// Whether the certificate names itself as its issuer (self-signed, as
    /// `openssl req -x509` makes one).
    pub fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// Whether the certificate is valid now, else why not (as OpenSSL
    /// refuses it: expired, or not yet valid).
    pub fn valid_now(&self) -> Result<(), String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX));
        match (self.not_before, self.not_after) {
            (Some(start), _) if now < start => Err("it is not valid yet".to_string()),
            (_, Some(end)) if now > end => Err("it has expired".to_string()),
            (Some(_), Some(_)) => Ok(()),
            _ => Err("its validity period does not parse".to_string()),
        }
    }
}

/// An X.509 time (UTCTime `YYMMDDHHMMSSZ`, GeneralizedTime
/// `YYYYMMDDHHMMSSZ`) in seconds since the epoch.
fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let short: i64 = text.get(..2)?.parse().ok()?;
            (if short < 50 { 2000 + short } else { 1900 + short }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |at: usize| rest[at..at + 2].parse::<i64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// One DER element: its tag and contents, and what follows it.
fn element(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *bytes.first()?;
    let first = *bytes.get(1)?;
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let length =
            bytes.get(2..2 + count)?.iter().fold(0usize, |sum, &b| (sum << 8) | usize::from(b));
        (length, 2 + count)
    };
    let contents = bytes.get(header..header.checked_add(length)?)?;
    Some((tag, contents, &bytes[header + length..]))
}

/// The elements of a constructed value's contents, in order.
fn elements(mut bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut found = Vec::new();
    while let Some((tag, contents, rest)) = element(bytes) {
        found.push((tag, contents));
        bytes = rest;
    }
    found
}

const SEQUENCE: u8 = 0x30;
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The attribute types a name is shown with, in OpenSSL's short names.
const ATTRIBUTES: [(&[u8], &str); 6] = [
    (OID_COMMON_NAME, "CN"),
    (&[0x55, 0x04, 0x0a], "O"),
    (&[0x55, 0x04, 0x0b], "OU"),
    (&[0x55, 0x04, 0x06], "C"),
    (&[0x55, 0x04, 0x08], "ST"),
    (&[0x55, 0x04, 0x07], "L"),
];

/// A Name's attributes as (OID, text) pairs.
fn name_attributes(name: &[u8]) -> Vec<(&[u8], String)> {
    let mut found = Vec::new();
    for (_, set) in elements(name) {
        for (_, pair) in elements(set) {
            let parts = elements(pair);
            if let [(0x06, oid), (_, value), ..] = parts[..] {
                found.push((oid, String::from_utf8_lossy(value).into_owned()));
            }
        }
    }
    found
}

/// A Name as `CN=…, O=…`.
fn name_text(name: &[u8]) -> String {
    name_attributes(name)
        .into_iter()
        .filter_map(|(oid, value)| {
            ATTRIBUTES
                .iter()
                .find(|(known, _)| *known == oid)
                .map(|(_, short)| format!("{short}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the facts of a DER certificate.
pub fn read(der: &[u8]) -> Option<CertificateFacts> {
    let (SEQUENCE, certificate, _) = element(der)? else { return None };
    let (SEQUENCE, tbs, _) = element(certificate)? else { return None };
    let mut fields = elements(tbs).into_iter().peekable();
    // The explicit version ([0]) is there for v3 certificates only.
    fields.next_if(|(tag, _)| *tag == 0xa0);
    let _serial = fields.next()?;
    let _signature = fields.next()?;
    let (_, issuer) = fields.next()?;
    let (_, validity) = fields.next()?;
    let times = elements(validity);
    let (_, subject) = fields.next()?;
    let _key = fields.next()?;
    let mut facts = CertificateFacts {
        subject: name_text(subject),
        issuer: name_text(issuer),
        common_name: name_attributes(subject)
            .into_iter()
            .find(|(oid, _)| *oid == OID_COMMON_NAME)
            .map(|(_, value)| value),
        not_before: times.first().and_then(|(tag, text)| time(*tag, text)),
        not_after: times.get(1).and_then(|(tag, text)| time(*tag, text)),
        ..CertificateFacts::default()
    };
    let extensions = fields.find(|(tag, _)| *tag == 0xa3).map(|(_, e)| e).unwrap_or_default();
    let list = element(extensions).map(|(_, list, _)| list).unwrap_or_default();
    for (_, extension) in elements(list) {
        let parts = elements(extension);
        let Some((0x06, oid)) = parts.first().copied() else { continue };
        if oid != OID_SUBJECT_ALT_NAME {
            continue;
        }
        let Some((_, value)) = parts.iter().find(|(tag, _)| *tag == 0x04) else { continue };
        let names = element(value).map(|(_, names, _)| names).unwrap_or_default();
        for (tag, name) in elements(names) {
            match (tag, name.len()) {
                (0x82, _) => facts.dns_names.push(String::from_utf8_lossy(name).into_owned()),
                (0x87, 4) => facts.ip_addresses.push(IpAddr::from(<[u8; 4]>::try_from(name).ok()?)),
                (0x87, 16) => {
                    facts.ip_addresses.push(IpAddr::from(<[u8; 16]>::try_from(name).ok()?))
                }
                _ => {}
            }
        }
    }
    Some(facts)
}

/// A certificate's signed part and its signature, for checking it with the
/// issuer's key where webpki does not take the certificate (X.509 v1).
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// The TBSCertificate as signed (its tag and length included).
    pub tbs: &'a [u8],
    /// The contents of the signature's AlgorithmIdentifier.
    pub algorithm: &'a [u8],
    /// The signature itself.
    pub signature: &'a [u8],
}

/// A certificate's subject public key.
#[derive(Debug, Clone, Copy)]
pub struct PublicKey<'a> {
    /// The contents of the key's AlgorithmIdentifier.
    pub algorithm: &'a [u8],
    /// The key (the BIT STRING's bits).
    pub key: &'a [u8],
}

/// The signed part and signature of a DER certificate.
pub fn signed(der: &[u8]) -> Option<Signed<'_>> {
    let (SEQUENCE, certificate, _) = element(der)? else { return None };
    let (SEQUENCE, _, after_tbs) = element(certificate)? else { return None };
    let tbs = &certificate[..certificate.len() - after_tbs.len()];
    let (SEQUENCE, algorithm, rest) = element(after_tbs)? else { return None };
    let (0x03, bits, _) = element(rest)? else { return None };
    Some(Signed { tbs, algorithm, signature: bits.get(1..)? })
}

/// The subject public key of a DER certificate.
pub fn public_key(der: &[u8]) -> Option<PublicKey<'_>> {
    let (SEQUENCE, certificate, _) = element(der)? else { return None };
    let (SEQUENCE, tbs, _) = element(certificate)? else { return None };
    let mut fields = elements(tbs).into_iter().peekable();
    fields.next_if(|(tag, _)| *tag == 0xa0);
    let (_, key_info) = fields.nth(5)?;
    let (SEQUENCE, algorithm, rest) = element(key_info)? else { return None };
    let (0x03, bits, _) = element(rest)? else { return None };
    Some(PublicKey { algorithm, key: bits.get(1..)? })
}

/// Whether `signed` verifies with `key` by one of `algorithms` (ring's, as
/// rustls lists them), matched by the identifiers of both.
pub fn verifies(
    signed: &Signed<'_>,
    key: &PublicKey<'_>,
    algorithms: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm],
) -> bool {
    algorithms.iter().any(|algorithm| {
        algorithm.signature_alg_id().as_ref() == signed.algorithm
            && algorithm.public_key_alg_id().as_ref() == key.algorithm
            && algorithm.verify_signature(key.key, signed.tbs, signed.signature).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl req -x509 -subj "/CN=db.test/O=Example"
    /// -addext "subjectAltName=DNS:db.test,IP:127.0.0.1"` (EC P-256 key).
    const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----
MIIBtzCCAV2gAwIBAgIUdYuwF02HVtJujuMG50/lph1T8UIwCgYIKoZIzj0EAwIw
JDEQMA4GA1UEAwwHZGIudGVzdDEQMA4GA1UECgwHRXhhbXBsZTAeFw0yNjExMzAw
NDU3MTRaFw0yNjEyMDEwNDU3MTRaMCQxEDAOBgNVBAMMB2RiLnRlc3QxEDAOBgNV
BAoMB0V4YW1wbGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQBih0imMeW0/1M
IQQF2uJ4k3qBGWuK68dy5dSdkPUxm36aY96ulohQWowbffd9nXa00nSGWyYScId8
aziy6Gq1o20wazAdBgNVHQ4EFgQUNpNOpeP3XxFS8XoiE+Olce+fYxYwHwYDVR0j
BBgwFoAUNpNOpeP3XxFS8XoiE+Olce+fYxYwDwYDVR0TAQH/BAUwAwEB/zAYBgNV
HREEETAPggdkYi50ZXN0hwR/AAABMAoGCCqGSM49BAMCA0gAMEUCIHbnxjyaIoVq
2GJTixtrCMbykgbnlEeUdi4QySLwR4v1AiEAwn76la5kpd/KIio6rVvkSmuc0buJ
XayZg7UWyfEPF5A=
-----END CERTIFICATE-----
";

    #[test]
    fn names_subject_issuer_and_alt_names_are_read() {
        use rustls::pki_types::pem::PemObject;
        let der =
            rustls::pki_types::CertificateDer::from_pem_slice(CERTIFICATE.as_bytes()).expect("PEM");
        let facts = read(der.as_ref()).expect("parses");
        assert_eq!(facts.subject, "CN=db.test, O=Example");
        assert!(facts.self_issued());
        assert_eq!(facts.dns_names, vec!["db.test".to_string()]);
        assert_eq!(facts.ip_addresses, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(facts.common_name.as_deref(), Some("db.test"));
    }

    #[test]
    fn a_self_signed_certificate_verifies_with_its_own_key() {
        use rustls::pki_types::pem::PemObject;
        let der =
            rustls::pki_types::CertificateDer::from_pem_slice(CERTIFICATE.as_bytes()).expect("PEM");
        let signed = signed(der.as_ref()).expect("signed part");
        let key = public_key(der.as_ref()).expect("key");
        let all = rustls::crypto::ring::default_provider().signature_verification_algorithms.all;
        assert!(verifies(&signed, &key, all));
        let mut tampered = signed.tbs.to_vec();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(!verifies(&Signed { tbs: &tampered, ..signed }, &key, all));
    }

    #[test]
    fn x509_times_are_seconds_since_the_epoch() {
        assert_eq!(time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(time(0x17, b"261130045714Z"), Some(1796014634));
        assert_eq!(time(0x18, b"20261130045714Z"), Some(1796014634));
        assert_eq!(time(0x17, b"2611300457Z"), None);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_none() {
        assert_eq!(read(&[]), None);
        assert_eq!(read(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(read(b"not a certificate"), None);
    }
}
