//! Signing keys for tests and development tokens (never for production issuing).

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use tollgate_core::Algorithm;

/// A signing key could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyError(pub String);

impl fmt::Display for SigningKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signing key: {}", self.0)
    }
}

impl std::error::Error for SigningKeyError {}

enum Material {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

/// A private key with its algorithm and key id; signs tokens and exports its public JWK.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    material: Material,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn err(what: impl fmt::Display) -> SigningKeyError {
    SigningKeyError(what.to_string())
}

fn random_kid(alg: Algorithm) -> String {
    let mut bytes = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    format!(
        "{}-{}",
        alg.as_str().to_ascii_lowercase(),
        URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn ec_signing(alg: Algorithm) -> Option<&'static sig::EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Some(&sig::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&sig::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

impl SigningKey {
    /// A fresh key for `alg` (RSA keys are 2048 bits) with a random `kid`.
    pub fn generate(alg: Algorithm) -> Result<Self, SigningKeyError> {
        let material = match alg.key_family() {
            tollgate_core::KeyFamily::Rsa => {
                Material::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(err)?)
            }
            tollgate_core::KeyFamily::EcP256 | tollgate_core::KeyFamily::EcP384 => {
                let signing = ec_signing(alg).ok_or_else(|| err("not an EC algorithm"))?;
                Material::Ec(EcdsaKeyPair::generate(signing).map_err(err)?)
            }
            tollgate_core::KeyFamily::Ed25519 => {
                Material::Ed(Ed25519KeyPair::generate().map_err(err)?)
            }
            _ => {
                let mut secret = vec![0u8; 64];
                aws_lc_rs::rand::fill(&mut secret).map_err(err)?;
                Material::Hmac(secret)
            }
        };
        Ok(SigningKey {
            alg,
            kid: random_kid(alg),
            material,
        })
    }

    /// An HMAC key from a shared secret (at least 32 bytes), for `HS256`.
    pub fn hmac(secret: impl AsRef<[u8]>) -> Result<Self, SigningKeyError> {
        let secret = secret.as_ref();
        if secret.len() < tollgate_core::MIN_HMAC_SECRET_BYTES {
            return Err(err("HMAC secret must be at least 32 bytes"));
        }
        Ok(SigningKey {
            alg: Algorithm::HS256,
            kid: "hmac".into(),
            material: Material::Hmac(secret.to_vec()),
        })
    }

    /// Reads a PKCS#8 private key (PEM `PRIVATE KEY` or DER) for `alg`.
    pub fn from_pkcs8(input: &[u8], alg: Algorithm) -> Result<Self, SigningKeyError> {
        let der = if input.starts_with(b"-----BEGIN") {
            pem_body(input)?
        } else {
            input.to_vec()
        };
        let material = match alg.key_family() {
            tollgate_core::KeyFamily::Rsa => {
                Material::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(err)?)
            }
            tollgate_core::KeyFamily::EcP256 | tollgate_core::KeyFamily::EcP384 => {
                let signing = ec_signing(alg).ok_or_else(|| err("not an EC algorithm"))?;
                Material::Ec(EcdsaKeyPair::from_pkcs8(signing, &der).map_err(err)?)
            }
            tollgate_core::KeyFamily::Ed25519 => {
                Material::Ed(Ed25519KeyPair::from_pkcs8(&der).map_err(err)?)
            }
            _ => return Err(err("HMAC keys are secrets, not PKCS#8 files")),
        };
        Ok(SigningKey {
            alg,
            kid: random_kid(alg),
            material,
        })
    }

    /// Sets the key id.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 PEM (`None` for HMAC secrets).
    pub fn to_pkcs8_pem(&self) -> Option<String> {
        let der: Vec<u8> = match &self.material {
            Material::Rsa(pair) => AsDer::<Pkcs8V1Der>::as_der(pair).ok()?.as_ref().to_vec(),
            Material::Ec(pair) => pair.to_pkcs8v1().ok()?.as_ref().to_vec(),
            Material::Ed(pair) => AsDer::<Pkcs8V1Der>::as_der(pair).ok()?.as_ref().to_vec(),
            Material::Hmac(_) => return None,
        };
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        Some(format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        ))
    }

    /// The public key as a JWK with `kid`, `alg` and `use: sig` (`None` for HMAC secrets).
    pub fn public_jwk(&self) -> Option<Value> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = match &self.material {
            Material::Rsa(pair) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
            Material::Ec(pair) => {
                let point = pair.public_key().as_ref();
                let half = point.len().saturating_sub(1) / 2;
                let crv = if self.alg == Algorithm::ES384 {
                    "P-384"
                } else {
                    "P-256"
                };
                json!({"kty": "EC", "crv": crv, "x": b64(point.get(1..1 + half)?), "y": b64(point.get(1 + half..)?)})
            }
            Material::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
            Material::Hmac(_) => return None,
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(self.alg.as_str());
        jwk["use"] = json!("sig");
        Some(jwk)
    }

    /// Signs `claims` into a compact JWT with header `{"alg", "kid", "typ"}`.
    pub fn sign(&self, claims: &Map<String, Value>, typ: &str) -> Result<String, SigningKeyError> {
        let header = json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": typ});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
        );
        let signature = self.sign_bytes(input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SigningKeyError> {
        let rng = SystemRandom::new();
        match &self.material {
            Material::Rsa(pair) => {
                let padding: &'static dyn sig::RsaEncoding = match self.alg {
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_SHA512,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut out).map_err(err)?;
                Ok(out)
            }
            Material::Ec(pair) => Ok(pair.sign(&rng, message).map_err(err)?.as_ref().to_vec()),
            Material::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Material::Hmac(secret) => {
                let algorithm = match self.alg {
                    Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
                    Algorithm::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
                    _ => aws_lc_rs::hmac::HMAC_SHA256,
                };
                Ok(
                    aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(algorithm, secret), message)
                        .as_ref()
                        .to_vec(),
                )
            }
        }
    }
}

fn pem_body(input: &[u8]) -> Result<Vec<u8>, SigningKeyError> {
    let text = std::str::from_utf8(input).map_err(|_| err("PEM is not UTF-8"))?;
    if !text.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(err(
            "expected a PKCS#8 `PRIVATE KEY` PEM (convert with `openssl pkcs8 -topk8 -nocrypt`)",
        ));
    }
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| err("PEM body is not base64"))
}
