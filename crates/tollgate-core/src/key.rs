//! Verification keys: typed, size-checked, each bound to the algorithms it may verify.

use std::fmt;
use std::path::Path;

use jsonwebtoken::DecodingKey;

use crate::algorithm::{Algorithm, KeyFamily};
use crate::der::{self, PublicKeyDer};
use crate::error::{KeyError, KeyMismatch};
use crate::pem::{self, PemKind};

/// Smallest RSA modulus accepted, in bits (RFC 7518 section 3.3).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits; bigger keys only make verification slow.
pub(crate) const MAX_RSA_BITS: usize = 8192;
/// Smallest HMAC secret accepted, in bytes (the SHA-256 output size, RFC 7518 section 3.2).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// One key that can verify token signatures.
///
/// A key knows its [`KeyFamily`], so an RSA public key can never be used as an HMAC secret
/// (algorithm confusion), and optionally the one [`Algorithm`] it is restricted to (a JWK's
/// `alg`). Key material never appears in `Debug` output.
///
/// ```
/// use tollgate_core::{Algorithm, VerificationKey};
///
/// let key = VerificationKey::hmac(b"a shared secret of at least 32 bytes!!").unwrap();
/// assert!(key.permits(Algorithm::HS256).is_ok());
/// assert!(key.permits(Algorithm::RS256).is_err());
/// // Too short for HMAC-SHA-256: refused at configuration time.
/// assert!(VerificationKey::hmac(b"secret").is_err());
/// ```
#[derive(Clone)]
pub struct VerificationKey {
    kid: Option<String>,
    family: KeyFamily,
    algorithm: Option<Algorithm>,
    /// Secret length in bytes, or RSA modulus size in bits; used to gate algorithms.
    strength: usize,
    material: DecodingKey,
    /// Backend keys parsed once per algorithm, shared by clones.
    #[cfg(feature = "aws-lc-rs")]
    prepared: std::sync::Arc<crate::prepared::PreparedKeys>,
}

impl VerificationKey {
    /// An HMAC shared secret (raw bytes). Refuses secrets shorter than 32 bytes; a secret of
    /// 32..48 bytes verifies only `HS256`, 48..64 bytes `HS256`/`HS384`.
    pub fn hmac(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_HMAC_SECRET_BYTES {
            return Err(KeyError::SecretTooShort {
                len: secret.len(),
                min: MIN_HMAC_SECRET_BYTES,
            });
        }
        Ok(VerificationKey {
            kid: None,
            family: KeyFamily::Hmac,
            algorithm: None,
            strength: secret.len(),
            material: DecodingKey::from_secret(secret),
            #[cfg(feature = "aws-lc-rs")]
            prepared: Default::default(),
        })
    }

    /// An RSA public key from its big-endian modulus and exponent.
    ///
    /// Refuses moduli under 2048 or over 8192 bits, even moduli, and exponents that are even,
    /// 1, or longer than 4 bytes.
    pub fn rsa_from_components(modulus: &[u8], exponent: &[u8]) -> Result<Self, KeyError> {
        let n = der::strip_leading_zeros(modulus);
        let e = der::strip_leading_zeros(exponent);
        let bits = match n.first() {
            Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
            None => 0,
        };
        if bits < MIN_RSA_BITS {
            return Err(KeyError::RsaTooSmall {
                bits,
                min: MIN_RSA_BITS,
            });
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyError::Invalid(
                "RSA modulus larger than 8192 bits".into(),
            ));
        }
        if n.last().is_some_and(|b| b & 1 == 0) {
            return Err(KeyError::Invalid("RSA modulus is even".into()));
        }
        if crate::roca::is_vulnerable(n) {
            return Err(KeyError::RocaVulnerable);
        }
        let e_is_one = e == [1];
        if e.is_empty() || e.len() > 4 || e_is_one || e.last().is_some_and(|b| b & 1 == 0) {
            return Err(KeyError::Invalid(
                "RSA public exponent must be odd, > 1 and < 2^32".into(),
            ));
        }
        Ok(VerificationKey {
            kid: None,
            family: KeyFamily::Rsa,
            algorithm: None,
            strength: bits,
            material: DecodingKey::from_rsa_raw_components(n, e),
            #[cfg(feature = "aws-lc-rs")]
            prepared: Default::default(),
        })
    }

    /// An EC public key from its affine coordinates (32 bytes each for P-256, 48 for P-384).
    ///
    /// Whether the point lies on the curve is checked by the crypto backend, which refuses to
    /// verify anything with an invalid point.
    pub fn ec_from_coordinates(family: KeyFamily, x: &[u8], y: &[u8]) -> Result<Self, KeyError> {
        let size = match family {
            KeyFamily::EcP256 => 32,
            KeyFamily::EcP384 => 48,
            _ => return Err(KeyError::Invalid("not an EC key family".into())),
        };
        if x.len() != size || y.len() != size {
            return Err(KeyError::Invalid(format!(
                "EC coordinates must be {size} bytes each"
            )));
        }
        let mut point = Vec::with_capacity(1 + 2 * size);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Self::ec_from_point(family, &point)
    }

    fn ec_from_point(family: KeyFamily, point: &[u8]) -> Result<Self, KeyError> {
        let size = if family == KeyFamily::EcP256 { 32 } else { 48 };
        if point.len() != 1 + 2 * size || point.first() != Some(&0x04) {
            return Err(KeyError::Invalid(
                "EC public key must be an uncompressed point".into(),
            ));
        }
        if point[1..].iter().all(|&b| b == 0) {
            return Err(KeyError::Invalid("EC public key is the zero point".into()));
        }
        Ok(VerificationKey {
            kid: None,
            family,
            algorithm: None,
            strength: size * 8,
            material: DecodingKey::from_ec_der(point),
            #[cfg(feature = "aws-lc-rs")]
            prepared: Default::default(),
        })
    }

    /// An Ed25519 public key from its 32 raw bytes.
    pub fn ed25519(public_key: &[u8]) -> Result<Self, KeyError> {
        if public_key.len() != 32 {
            return Err(KeyError::Invalid(
                "Ed25519 public key must be 32 bytes".into(),
            ));
        }
        Ok(VerificationKey {
            kid: None,
            family: KeyFamily::Ed25519,
            algorithm: None,
            strength: 256,
            material: DecodingKey::from_ed_der(public_key),
            #[cfg(feature = "aws-lc-rs")]
            prepared: Default::default(),
        })
    }

    /// A public key from PEM: `PUBLIC KEY` (SPKI: RSA, EC P-256/P-384, Ed25519),
    /// `RSA PUBLIC KEY` (PKCS#1) or `CERTIFICATE` (the certificate's key; the certificate itself
    /// is not validated). Private keys are refused.
    ///
    /// ```
    /// use tollgate_core::{Algorithm, VerificationKey};
    ///
    /// let pem = "-----BEGIN PUBLIC KEY-----
    /// MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
    /// -----END PUBLIC KEY-----";
    /// let key = VerificationKey::from_pem(pem).unwrap();
    /// assert!(key.permits(Algorithm::EdDSA).is_ok());
    /// ```
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let block = pem::parse_first(pem.as_ref()).map_err(|e| KeyError::Invalid(e.into()))?;
        let parsed = match block.kind {
            PemKind::PublicKey => der::parse_spki(&block.der),
            PemKind::RsaPublicKey => der::parse_pkcs1_rsa(&block.der),
            PemKind::Certificate => der::parse_certificate_spki(&block.der),
        };
        Self::from_parsed_der(parsed)
    }

    /// A public key from DER: SPKI, PKCS#1 `RSAPublicKey`, or an X.509 certificate.
    pub fn from_der(der_bytes: &[u8]) -> Result<Self, KeyError> {
        let parsed = der::parse_spki(der_bytes)
            .or_else(|_| der::parse_pkcs1_rsa(der_bytes))
            .or_else(|_| der::parse_certificate_spki(der_bytes));
        Self::from_parsed_der(parsed)
    }

    /// Reads a key file: PEM if it looks like PEM, else DER.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| KeyError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            Self::from_pem(&bytes)
        } else {
            Self::from_der(&bytes)
        }
    }

    fn from_parsed_der(parsed: Result<PublicKeyDer<'_>, der::DerError>) -> Result<Self, KeyError> {
        match parsed.map_err(|e| KeyError::Invalid(e.0.into()))? {
            PublicKeyDer::Rsa { n, e } => Self::rsa_from_components(n, e),
            PublicKeyDer::EcP256 { point } => Self::ec_from_point(KeyFamily::EcP256, point),
            PublicKeyDer::EcP384 { point } => Self::ec_from_point(KeyFamily::EcP384, point),
            PublicKeyDer::Ed25519 { x } => Self::ed25519(x),
        }
    }

    /// Sets the key id (`kid`) tokens use to pick this key.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Restricts the key to one algorithm, which must suit the key.
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<Self, KeyError> {
        self.check_family(alg)
            .map_err(|m| KeyError::AlgorithmMismatch(alg, m))?;
        self.algorithm = Some(alg);
        Ok(self)
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// What kind of key this is.
    pub fn family(&self) -> KeyFamily {
        self.family
    }

    /// The one algorithm this key is restricted to, if any.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    /// Whether this key may verify a token signed with `alg`.
    pub fn permits(&self, alg: Algorithm) -> Result<(), KeyMismatch> {
        if let Some(key_alg) = self.algorithm
            && key_alg != alg
        {
            return Err(KeyMismatch::KeyAlgorithm { key_alg });
        }
        self.check_family(alg)
    }

    fn check_family(&self, alg: Algorithm) -> Result<(), KeyMismatch> {
        let needed = alg.key_family();
        if needed != self.family {
            return Err(KeyMismatch::Family {
                needed,
                actual: self.family,
            });
        }
        if self.family == KeyFamily::Hmac && self.strength < alg.min_hmac_secret_len() {
            return Err(KeyMismatch::SecretTooShort {
                len: self.strength,
                needed: alg.min_hmac_secret_len(),
            });
        }
        Ok(())
    }

    pub(crate) fn material(&self) -> &DecodingKey {
        &self.material
    }

    #[cfg(feature = "aws-lc-rs")]
    pub(crate) fn prepared(&self) -> &crate::prepared::PreparedKeys {
        &self.prepared
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}
