//! Key material parsed once for the AWS-LC backend, instead of on every verification.
//!
//! `jsonwebtoken`'s verifier rebuilds the backend key (RSA modulus parsing, HMAC key schedule) for
//! each token. Here each key keeps one parsed form per algorithm, made on first use and shared by
//! every later verification (and every clone of the key).

use std::sync::OnceLock;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, VerificationAlgorithm};
use jsonwebtoken::{DecodingKey, DecodingKeyKind};

use crate::algorithm::Algorithm;
use crate::der;

enum Prepared {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// One lazily parsed backend key per algorithm.
#[derive(Default)]
pub(crate) struct PreparedKeys {
    slots: [OnceLock<Option<Prepared>>; Algorithm::ALL.len()],
}

fn slot_index(alg: Algorithm) -> usize {
    Algorithm::ALL.iter().position(|a| *a == alg).unwrap_or(0)
}

fn public_algorithm(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::EdDSA => &sig::ED25519,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => return None,
    })
}

fn prepare(alg: Algorithm, key: &DecodingKey) -> Option<Prepared> {
    let hmac_alg = match alg {
        Algorithm::HS256 => Some(hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    };
    match (key.kind(), hmac_alg) {
        (DecodingKeyKind::SecretOrDer(secret), Some(hmac_alg)) => {
            Some(Prepared::Hmac(Box::new(hmac::Key::new(hmac_alg, secret))))
        }
        (DecodingKeyKind::SecretOrDer(bytes), None) => {
            ParsedPublicKey::new(public_algorithm(alg)?, bytes)
                .ok()
                .map(Prepared::Public)
        }
        (DecodingKeyKind::RsaModulusExponent { n, e }, None) => {
            let pkcs1 = der::encode_pkcs1_rsa(n, e)?;
            ParsedPublicKey::new(public_algorithm(alg)?, pkcs1)
                .ok()
                .map(Prepared::Public)
        }
        (DecodingKeyKind::RsaModulusExponent { .. }, Some(_)) => None,
    }
}

impl PreparedKeys {
    /// Verifies with the parsed key for `alg`; `false` when the key cannot be parsed for it.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        key: &DecodingKey,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let prepared = self.slots[slot_index(alg)].get_or_init(|| {
            let prepared = prepare(alg, key);
            if prepared.is_none() {
                tracing::debug!(%alg, "AWS-LC refused the key for this algorithm");
            }
            prepared
        });
        match prepared {
            Some(Prepared::Public(public)) => public.verify_sig(message, signature).is_ok(),
            Some(Prepared::Hmac(secret)) => hmac::verify(secret, message, signature).is_ok(),
            None => false,
        }
    }
}
