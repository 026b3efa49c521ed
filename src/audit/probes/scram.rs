//! SCRAM client side (RFC 5802) with SHA-1 or, as RFC 7677 adds, SHA-256,
//! without channel binding (`n,,`). PostgreSQL speaks SCRAM-SHA-256 inside
//! its SASL messages; MongoDB speaks both inside `saslStart` /
//! `saslContinue`. Pure computation: the login clients carry the bytes and
//! prepare the password as their server expects it (MongoDB hashes it
//! first for SHA-1 and applies SASLprep for SHA-256).
//! See: <https://datatracker.ietf.org/doc/html/rfc5802>,
//! <https://datatracker.ietf.org/doc/html/rfc7677>

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::{digest, hmac, pbkdf2};

/// Iteration counts above this are refused: a hostile server could
/// otherwise make the client burn CPU (PostgreSQL's default is 4096).
pub const MAX_ITERATIONS: u32 = 600_000;

/// Why a SCRAM exchange could not continue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed server-first-message")]
    Malformed,
    #[error("server nonce does not extend ours")]
    Nonce,
    #[error("iteration count {0} out of range")]
    Iterations(u32),
    #[error("server signature does not match")]
    ServerSignature,
}

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// `SCRAM-SHA-1`: MongoDB's mechanism before 4.0, still offered.
    Sha1,
    /// `SCRAM-SHA-256`.
    Sha256,
}

impl Hash {
    /// The SASL mechanism name.
    pub fn mechanism(self) -> &'static str {
        match self {
            Hash::Sha1 => "SCRAM-SHA-1",
            Hash::Sha256 => "SCRAM-SHA-256",
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Hash::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
            Hash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Hash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => hmac::HMAC_SHA256,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &digest::SHA256,
        }
    }

    /// Output size in bytes, the length of the salted password.
    fn size(self) -> usize {
        self.digest().output_len()
    }
}

/// A SCRAM exchange in progress.
#[derive(Debug, Clone)]
pub struct Scram {
    hash: Hash,
    client_first_bare: String,
    nonce: String,
    password: String,
    /// Set by [`Scram::client_final`]: what the server must prove.
    expected_server_signature: Option<Vec<u8>>,
}

impl Scram {
    /// Starts an exchange with the client nonce `nonce` (printable, no
    /// comma). `password` is used as given: the caller prepares it.
    /// PostgreSQL leaves `user` empty (it takes the name from the
    /// StartupMessage); MongoDB names the user here.
    pub fn new(hash: Hash, user: &str, password: &str, nonce: &str) -> Self {
        // RFC 5802 section 5.1: `=` and `,` in a name are escaped.
        let user = user.replace('=', "=3D").replace(',', "=2C");
        Scram {
            hash,
            client_first_bare: format!("n={user},r={nonce}"),
            nonce: nonce.to_string(),
            password: password.to_string(),
            expected_server_signature: None,
        }
    }

    /// A fresh random nonce, base64 of 18 random bytes.
    pub fn random_nonce() -> String {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 18];
        // SystemRandom reads getrandom(2); failing that, a time-derived
        // nonce is still unique enough for a login attempt.
        if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            bytes[..16].copy_from_slice(&now.to_le_bytes());
        }
        STANDARD.encode(bytes)
    }

    /// `client-first-message`: the GS2 header plus the bare part.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// `client-final-message` for the server's first message.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, ScramError> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in server_first.split(',') {
            match attribute.split_once('=') {
                Some(("r", value)) => nonce = Some(value),
                Some(("s", value)) => salt = STANDARD.decode(value).ok(),
                Some(("i", value)) => iterations = value.parse::<u32>().ok(),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(ScramError::Malformed);
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() <= self.nonce.len() {
            return Err(ScramError::Nonce);
        }
        let rounds = std::num::NonZeroU32::new(iterations)
            .filter(|n| n.get() <= MAX_ITERATIONS)
            .ok_or(ScramError::Iterations(iterations))?;
        let hash = self.hash;
        let mut salted = vec![0u8; hash.size()];
        pbkdf2::derive(hash.pbkdf2(), rounds, &salt, self.password.as_bytes(), &mut salted);
        let salted_key = hmac::Key::new(hash.hmac(), &salted);
        let client_key = hmac::sign(&salted_key, b"Client Key");
        let stored_key = digest::digest(hash.digest(), client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature =
            hmac::sign(&hmac::Key::new(hash.hmac(), stored_key.as_ref()), auth_message.as_bytes());
        let proof: Vec<u8> =
            client_key.as_ref().iter().zip(signature.as_ref()).map(|(a, b)| a ^ b).collect();
        let server_key = hmac::sign(&salted_key, b"Server Key");
        let server_signature =
            hmac::sign(&hmac::Key::new(hash.hmac(), server_key.as_ref()), auth_message.as_bytes());
        self.expected_server_signature = Some(server_signature.as_ref().to_vec());
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)))
    }

    /// Checks `server-final-message` (`v=…`): the server knew the password
    /// too, so the acceptance is not a fluke of a misbehaving peer.
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), ScramError> {
        let given = server_final
            .split(',')
            .find_map(|a| a.strip_prefix("v="))
            .and_then(|v| STANDARD.decode(v).ok());
        match (given, &self.expected_server_signature) {
            (Some(given), Some(expected)) if &given == expected => Ok(()),
            _ => Err(ScramError::ServerSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3, the SCRAM-SHA-256 example.
    #[test]
    fn rfc_7677_example() {
        let mut scram = Scram::new(Hash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(scram.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first =
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = scram.client_final(server_first).unwrap();
        assert_eq!(
            client_final,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        scram.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
        assert_eq!(
            scram.verify_server_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramError::ServerSignature)
        );
    }

    /// RFC 5802 section 5, the SCRAM-SHA-1 example.
    #[test]
    fn rfc_5802_example() {
        let mut scram = Scram::new(Hash::Sha1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(scram.client_first(), "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        let server_first = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        assert_eq!(
            scram.client_final(server_first).unwrap(),
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        scram.verify_server_final("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap();
    }

    #[test]
    fn escapes_user_names_and_leaves_postgres_names_empty() {
        let scram = Scram::new(Hash::Sha256, "a=b,c", "pw", "n0nce");
        assert_eq!(scram.client_first(), "n,,n=a=3Db=2Cc,r=n0nce");
        assert_eq!(Scram::new(Hash::Sha256, "", "pw", "n0nce").client_first(), "n,,n=,r=n0nce");
    }

    #[test]
    fn refuses_foreign_nonces_and_huge_iteration_counts() {
        let mut scram = Scram::new(Hash::Sha256, "", "pw", "abc");
        assert_eq!(scram.client_final("r=xyz123,s=AAAA,i=4096"), Err(ScramError::Nonce));
        assert_eq!(
            scram.client_final("r=abc123,s=AAAA,i=4000000000"),
            Err(ScramError::Iterations(4_000_000_000))
        );
        assert_eq!(scram.client_final("r=abc123"), Err(ScramError::Malformed));
        assert!(!Scram::random_nonce().contains(','));
    }
}
