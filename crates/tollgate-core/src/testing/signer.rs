//! The test signer: private keys on aws-lc-rs, with full control over what is signed.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use crate::{Algorithm, KeyFamily, MIN_HMAC_SECRET_BYTES};

/// A signing key could not be made, read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signing key: {0}")]
pub struct SigningKeyError(pub String);

enum Material {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

/// A private key with its algorithm and key id; signs tokens and exports its public JWK.
///
/// Clones share the key material (an RSA key is generated once and then signs under several
/// algorithms through [`for_algorithm`](Self::for_algorithm)).
#[derive(Clone)]
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    material: Arc<Material>,
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
    // A zero kid is still a kid: a failing system RNG only makes two kids more likely to clash.
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
    fn new(alg: Algorithm, material: Material) -> Self {
        SigningKey {
            alg,
            kid: random_kid(alg),
            material: Arc::new(material),
        }
    }

    /// A fresh key for `alg` (RSA keys are 2048 bits, HMAC secrets 64 random bytes) with a
    /// random `kid`.
    pub fn generate(alg: Algorithm) -> Result<Self, SigningKeyError> {
        let material = match alg.key_family() {
            KeyFamily::Rsa => Material::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(err)?),
            KeyFamily::EcP256 | KeyFamily::EcP384 => {
                let signing = ec_signing(alg).ok_or_else(|| err("not an EC algorithm"))?;
                Material::Ec(EcdsaKeyPair::generate(signing).map_err(err)?)
            }
            KeyFamily::Ed25519 => Material::Ed(Ed25519KeyPair::generate().map_err(err)?),
            KeyFamily::Hmac => {
                let mut secret = vec![0u8; 64];
                aws_lc_rs::rand::fill(&mut secret).map_err(err)?;
                Material::Hmac(secret)
            }
        };
        Ok(SigningKey::new(alg, material))
    }

    /// An HMAC key from a shared secret (at least 32 bytes), for `HS256` with `kid` `hmac`
    /// ([`for_algorithm`](Self::for_algorithm) gives `HS384`/`HS512`).
    pub fn hmac(secret: impl AsRef<[u8]>) -> Result<Self, SigningKeyError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_HMAC_SECRET_BYTES {
            return Err(err("HMAC secret must be at least 32 bytes"));
        }
        Ok(SigningKey {
            alg: Algorithm::HS256,
            kid: "hmac".into(),
            material: Arc::new(Material::Hmac(secret.to_vec())),
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
            KeyFamily::Rsa => Material::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(err)?),
            KeyFamily::EcP256 | KeyFamily::EcP384 => {
                let signing = ec_signing(alg).ok_or_else(|| err("not an EC algorithm"))?;
                Material::Ec(EcdsaKeyPair::from_pkcs8(signing, &der).map_err(err)?)
            }
            KeyFamily::Ed25519 => Material::Ed(Ed25519KeyPair::from_pkcs8(&der).map_err(err)?),
            KeyFamily::Hmac => return Err(err("HMAC keys are secrets, not PKCS#8 files")),
        };
        Ok(SigningKey::new(alg, material))
    }

    /// Sets the key id.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The same key (and `kid`) signing with another algorithm of its family: an RSA key with
    /// any of `RS256`..`PS512`, an HMAC secret with any of `HS256`..`HS512`. EC and Ed25519 keys
    /// have exactly one algorithm.
    ///
    /// ```
    /// use tollgate_core::Algorithm;
    /// use tollgate_core::testing::SigningKey;
    ///
    /// let rsa = SigningKey::generate(Algorithm::RS256)?;
    /// assert_eq!(rsa.for_algorithm(Algorithm::PS384)?.algorithm(), Algorithm::PS384);
    /// assert!(rsa.for_algorithm(Algorithm::HS256).is_err());
    /// # Ok::<(), tollgate_core::testing::SigningKeyError>(())
    /// ```
    pub fn for_algorithm(&self, alg: Algorithm) -> Result<Self, SigningKeyError> {
        let fits = match &*self.material {
            Material::Rsa(_) => alg.key_family() == KeyFamily::Rsa,
            Material::Hmac(_) => alg.key_family() == KeyFamily::Hmac,
            Material::Ec(_) | Material::Ed(_) => alg == self.alg,
        };
        if !fits {
            return Err(err(format_args!("a {} key cannot sign {alg}", self.alg)));
        }
        Ok(SigningKey {
            alg,
            kid: self.kid.clone(),
            material: Arc::clone(&self.material),
        })
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
        let der: Vec<u8> = match &*self.material {
            Material::Rsa(pair) => AsDer::<Pkcs8V1Der<'_>>::as_der(pair)
                .ok()?
                .as_ref()
                .to_vec(),
            Material::Ec(pair) => pair.to_pkcs8v1().ok()?.as_ref().to_vec(),
            Material::Ed(pair) => AsDer::<Pkcs8V1Der<'_>>::as_der(pair)
                .ok()?
                .as_ref()
                .to_vec(),
            Material::Hmac(_) => return None,
        };
        Some(pem("PRIVATE KEY", &der))
    }

    /// The public key as the algorithm's own bytes: PKCS#1 `RSAPublicKey` DER, the
    /// uncompressed SEC1 point of an EC key, the 32 bytes of an Ed25519 key (`None` for HMAC).
    pub fn public_key_bytes(&self) -> Option<&[u8]> {
        match &*self.material {
            Material::Rsa(pair) => Some(pair.public_key().as_ref()),
            Material::Ec(pair) => Some(pair.public_key().as_ref()),
            Material::Ed(pair) => Some(pair.public_key().as_ref()),
            Material::Hmac(_) => None,
        }
    }

    /// The public key as DER `SubjectPublicKeyInfo` (`None` for HMAC secrets).
    pub fn public_key_spki_der(&self) -> Option<Vec<u8>> {
        let der = match &*self.material {
            Material::Rsa(pair) => AsDer::<PublicKeyX509Der<'_>>::as_der(pair.public_key()).ok()?,
            Material::Ec(pair) => AsDer::<PublicKeyX509Der<'_>>::as_der(pair.public_key()).ok()?,
            Material::Ed(pair) => AsDer::<PublicKeyX509Der<'_>>::as_der(pair.public_key()).ok()?,
            Material::Hmac(_) => return None,
        };
        Some(der.as_ref().to_vec())
    }

    /// The public key as PEM `PUBLIC KEY` (SPKI; `None` for HMAC secrets).
    pub fn public_key_pem(&self) -> Option<String> {
        Some(pem("PUBLIC KEY", &self.public_key_spki_der()?))
    }

    /// The RSA modulus and public exponent, big-endian (`None` for other keys).
    pub fn rsa_components(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        match &*self.material {
            Material::Rsa(pair) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                Some((c.n, c.e))
            }
            _ => None,
        }
    }

    /// The `x` and `y` coordinates of an EC key (`None` for other keys).
    pub fn ec_coordinates(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        match &*self.material {
            Material::Ec(pair) => {
                let point = pair.public_key().as_ref();
                // An uncompressed point: 0x04 || x || y, both coordinates of equal length.
                let half = point.len().saturating_sub(1) / 2;
                Some((
                    point.get(1..1 + half)?.to_vec(),
                    point.get(1 + half..)?.to_vec(),
                ))
            }
            _ => None,
        }
    }

    /// The shared secret of an HMAC key (`None` for other keys).
    pub fn hmac_secret(&self) -> Option<&[u8]> {
        match &*self.material {
            Material::Hmac(secret) => Some(secret),
            _ => None,
        }
    }

    /// The public key as a JWK with `kid`, `alg` and `use: sig` (`None` for HMAC secrets).
    pub fn public_jwk(&self) -> Option<Value> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = match &*self.material {
            Material::Rsa(_) => {
                let (n, e) = self.rsa_components()?;
                json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)})
            }
            Material::Ec(_) => {
                let (x, y) = self.ec_coordinates()?;
                let crv = if self.alg == Algorithm::ES384 {
                    "P-384"
                } else {
                    "P-256"
                };
                json!({"kty": "EC", "crv": crv, "x": b64(&x), "y": b64(&y)})
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

    /// The public key as a DPoP client puts it in a proof's `jwk` header: only the members
    /// RFC 7638 hashes (`kty` and `crv`/`x`/`y` or `n`/`e`), no `kid`, `alg` or `use` (`None`
    /// for HMAC secrets).
    pub fn dpop_jwk(&self) -> Option<Value> {
        let mut jwk = self.public_jwk()?;
        if let Some(object) = jwk.as_object_mut() {
            object.retain(|name, _| matches!(name.as_str(), "kty" | "crv" | "x" | "y" | "n" | "e"));
        }
        Some(jwk)
    }

    /// The RFC 7638 SHA-256 thumbprint of the public key, base64url: the `cnf.jkt` of a token
    /// bound to this key. Computed here (serde_json's sorted map and aws-lc-rs's SHA-256), not
    /// with the verifier's code, so tests compare two implementations. `None` for HMAC secrets.
    pub fn jwk_thumbprint(&self) -> Option<String> {
        let jwk = self.dpop_jwk()?;
        // serde_json's `Map` is a BTreeMap without `preserve_order`: members come out sorted.
        let sorted: std::collections::BTreeMap<String, Value> =
            jwk.as_object()?.clone().into_iter().collect();
        let canonical = serde_json::to_string(&sorted).ok()?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        Some(URL_SAFE_NO_PAD.encode(digest.as_ref()))
    }

    /// Signs `claims` into a DPoP proof: header `{"typ":"dpop+jwt","alg","jwk"}` with
    /// [`dpop_jwk`](Self::dpop_jwk) (RFC 9449 4.2).
    pub fn sign_dpop_proof(&self, claims: &Map<String, Value>) -> Result<String, SigningKeyError> {
        let jwk = self
            .dpop_jwk()
            .ok_or_else(|| err("an HMAC secret cannot sign DPoP proofs"))?;
        let header = json!({"typ": "dpop+jwt", "alg": self.alg.as_str(), "jwk": jwk});
        self.sign_raw(
            &header.to_string(),
            &Value::Object(claims.clone()).to_string(),
        )
    }

    /// A DPoP proof for one request, as a client makes it: `htm`, `htu`, `iat` now, a random
    /// `jti`, `ath` of `access_token` when given, `nonce` when given.
    ///
    /// ```
    /// use tollgate_core::Algorithm;
    /// use tollgate_core::testing::SigningKey;
    ///
    /// let key = SigningKey::generate(Algorithm::ES256)?;
    /// let proof = key.dpop_proof("GET", "https://api.example.com/orders", Some("eyJ..."), None)?;
    /// assert_eq!(proof.split('.').count(), 3);
    /// assert_eq!(key.jwk_thumbprint().map(|t| t.len()), Some(43));
    /// # Ok::<(), tollgate_core::testing::SigningKeyError>(())
    /// ```
    pub fn dpop_proof(
        &self,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, SigningKeyError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(err)?
            .as_secs();
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(err)?;
        let mut claims = Map::new();
        claims.insert("jti".into(), json!(URL_SAFE_NO_PAD.encode(jti)));
        claims.insert("htm".into(), json!(htm));
        claims.insert("htu".into(), json!(htu));
        claims.insert("iat".into(), json!(now));
        if let Some(token) = access_token {
            claims.insert("ath".into(), json!(access_token_hash(token)));
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        self.sign_dpop_proof(&claims)
    }

    /// Signs `claims` into a compact JWT with header `{"alg", "kid", "typ"}`.
    pub fn sign(&self, claims: &Map<String, Value>, typ: &str) -> Result<String, SigningKeyError> {
        let header = json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": typ});
        self.sign_raw(
            &header.to_string(),
            &Value::Object(claims.clone()).to_string(),
        )
    }

    /// Signs exactly these header and payload texts (nothing is checked or re-encoded, so the
    /// header may name another algorithm, repeat a member, or not be JSON at all) into
    /// `base64url(header).base64url(payload).base64url(signature)`.
    pub fn sign_raw(&self, header: &str, payload: &str) -> Result<String, SigningKeyError> {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = self.sign_bytes(input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The raw signature of `message` under this key and algorithm (ECDSA as fixed-width
    /// `r || s`, as JWS wants it).
    pub fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SigningKeyError> {
        let rng = SystemRandom::new();
        match &*self.material {
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
                let key = aws_lc_rs::hmac::Key::new(algorithm, secret);
                Ok(aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec())
            }
        }
    }
}

/// The `ath` of a DPoP proof for `access_token`: base64url(SHA-256(token)) (RFC 9449 4.2),
/// computed with aws-lc-rs.
pub fn access_token_hash(access_token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// `der` as PEM with this label, 64 characters a line, ending in a newline.
fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn families_and_algorithms() {
        let rsa = SigningKey::generate(Algorithm::RS256)
            .unwrap()
            .with_kid("r");
        for alg in [Algorithm::RS512, Algorithm::PS256] {
            let other = rsa.for_algorithm(alg).unwrap();
            assert_eq!((other.algorithm(), other.kid()), (alg, "r"));
            assert_eq!(other.rsa_components(), rsa.rsa_components());
        }
        let ec = SigningKey::generate(Algorithm::ES384).unwrap();
        assert!(ec.for_algorithm(Algorithm::ES256).is_err());
        assert_eq!(ec.ec_coordinates().unwrap().0.len(), 48);
        let hmac = SigningKey::hmac([7u8; 32]).unwrap();
        assert_eq!(
            hmac.for_algorithm(Algorithm::HS512)
                .unwrap()
                .sign_bytes(b"m")
                .unwrap()
                .len(),
            64
        );
        assert!(hmac.for_algorithm(Algorithm::RS256).is_err());
        assert!(SigningKey::hmac([7u8; 31]).is_err());
        assert_eq!(hmac.public_jwk(), None);
    }

    #[test]
    fn pkcs8_round_trip() {
        for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let key = SigningKey::generate(alg).unwrap();
            let pem = key.to_pkcs8_pem().unwrap();
            let back = SigningKey::from_pkcs8(pem.as_bytes(), alg).unwrap();
            assert_eq!(back.public_key_bytes(), key.public_key_bytes());
            assert!(
                key.public_key_pem()
                    .unwrap()
                    .starts_with("-----BEGIN PUBLIC KEY-----\n")
            );
        }
        assert!(
            SigningKey::from_pkcs8(b"-----BEGIN RSA PRIVATE KEY-----", Algorithm::RS256).is_err()
        );
    }
}
