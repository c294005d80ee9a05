//! JWS signature algorithms Tollgate can verify.

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm (RFC 7518 section 3, RFC 8037 for `EdDSA`).
///
/// Names are matched case-sensitively, as RFC 7515 requires: `"rs256"` is not `RS256`.
/// There is deliberately no `none` variant: an unsigned token can never be accepted.
///
/// ```
/// use tollgate_core::Algorithm;
///
/// assert_eq!("ES256".parse::<Algorithm>(), Ok(Algorithm::ES256));
/// assert!("none".parse::<Algorithm>().is_err());
/// assert!("rs256".parse::<Algorithm>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA over Ed25519 (RFC 8037).
    EdDSA,
}

/// The kind of key an algorithm needs; a key of another kind can never verify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// A shared secret (`kty: oct`).
    Hmac,
    /// An RSA public key (`kty: RSA`).
    Rsa,
    /// An elliptic-curve public key on P-256 (`kty: EC`, `crv: P-256`).
    EcP256,
    /// An elliptic-curve public key on P-384 (`kty: EC`, `crv: P-384`).
    EcP384,
    /// An Ed25519 public key (`kty: OKP`, `crv: Ed25519`).
    Ed25519,
}

impl fmt::Display for KeyFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyFamily::Hmac => "HMAC secret",
            KeyFamily::Rsa => "RSA public key",
            KeyFamily::EcP256 => "EC P-256 public key",
            KeyFamily::EcP384 => "EC P-384 public key",
            KeyFamily::Ed25519 => "Ed25519 public key",
        })
    }
}

impl Algorithm {
    /// Every algorithm Tollgate implements.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The registered JWA name, e.g. `"RS256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Looks an algorithm up by its exact (case-sensitive) JWA name.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    /// The only key family that may verify this algorithm.
    pub const fn key_family(self) -> KeyFamily {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => KeyFamily::Hmac,
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::ES256 => KeyFamily::EcP256,
            Algorithm::ES384 => KeyFamily::EcP384,
            Algorithm::EdDSA => KeyFamily::Ed25519,
        }
    }

    /// Whether this is a symmetric (shared-secret) algorithm.
    pub const fn is_symmetric(self) -> bool {
        matches!(self.key_family(), KeyFamily::Hmac)
    }

    /// Minimum HMAC secret length in bytes (the hash output size, RFC 7518 section 3.2).
    pub(crate) const fn min_hmac_secret_len(self) -> usize {
        match self {
            Algorithm::HS384 => 48,
            Algorithm::HS512 => 64,
            _ => 32,
        }
    }

    /// Exact length of a valid raw signature, where the algorithm fixes it.
    pub(crate) const fn fixed_signature_len(self) -> Option<usize> {
        match self {
            Algorithm::HS256 => Some(32),
            Algorithm::HS384 => Some(48),
            Algorithm::HS512 => Some(64),
            Algorithm::ES256 => Some(64),
            Algorithm::ES384 => Some(96),
            Algorithm::EdDSA => Some(64),
            _ => None,
        }
    }

    #[cfg(feature = "rust-crypto")]
    pub(crate) const fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown or forbidden algorithm name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported algorithm {0:?}")]
pub struct UnknownAlgorithm(pub String);

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(s).ok_or_else(|| UnknownAlgorithm(s.to_owned()))
    }
}
