//! Checking a JWS signature alone, without any claim: **not authentication**.
//!
//! [`verify_signature`] checks what [`Verifier::verify`] checks before the payload (size cap,
//! split, header against the policy, key lookup, signature) and then stops: no `exp`, `iss`,
//! `aud` or any other claim is looked at, the payload may be any bytes, and nothing is cached.
//! It exists for conformance test suites (Wycheproof) and for JWS whose payload is not a JWT.
//! A request is authenticated by [`Verifier::verify`] (or [`Verifier::start`]), never by this.

use crate::error::Error;
use crate::jws::TokenHeader;
use crate::verifier::Verifier;

/// A JWS whose signature verified, before any claim is looked at (see the [module](self)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifiedJws {
    /// The header.
    pub header: TokenHeader,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
}

/// Checks structure, header and signature of `token` with `verifier`'s policy, keys and crypto
/// backend; no claim is looked at (see the [module](self): not for authentication).
///
/// ```
/// use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, Verifier, VerificationKey};
/// use tollgate_core::signature::verify_signature;
///
/// let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef")?;
/// // Only the algorithm allow-list, the header rules and the key matter here.
/// let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
/// let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
/// let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsImF1ZCI6Im15LWFwaSIsInN1YiI6InVzZXItMSIsImV4cCI6NDEwMjQ0NDgwMH0.1YFUOF9s-hTXa0XGtoQTwyKGVH3FIdXNiQiiFrX4Upw";
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// let jws = rt.block_on(verify_signature(&verifier, token))?;
/// assert_eq!(jws.header.alg, Algorithm::HS256);
/// assert!(jws.payload.starts_with(b"{\"iss\""));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn verify_signature(verifier: &Verifier, token: &str) -> Result<VerifiedJws, Error> {
    let (header, payload) = verifier.check_jws(token).await?;
    Ok(VerifiedJws { header, payload })
}
