//! Signing for tests and development tokens (feature `testing`): never for production issuing.
//!
//! [`SigningKey`] is the one test signer of the workspace. It is built directly on aws-lc-rs, not
//! on the verification code of this crate, so a test that signs with it and verifies with a
//! [`Verifier`] checks two independent implementations against each other. It
//! signs exact header and payload bytes too ([`SigningKey::sign_raw`]), which is what tests of
//! malformed tokens need.
//!
//! The `tollgate` crate's development issuer (`tollgate::testing::DevIssuer`) and the workspace's
//! test-support crate both build on it.
//!
//! ```
//! use serde_json::json;
//! use tollgate_core::Algorithm;
//! use tollgate_core::testing::SigningKey;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SigningKey::generate(Algorithm::ES256)?.with_kid("k1");
//! // The public half, to serve as a JWK Set.
//! let jwks = json!({ "keys": [key.public_jwk().ok_or("no public key")?] });
//! assert_eq!(jwks["keys"][0]["kid"], "k1");
//!
//! // A token with chosen claims...
//! let claims = json!({"iss": "https://issuer.test", "aud": "api", "exp": 4_000_000_000_i64});
//! let token = key.sign(claims.as_object().ok_or("not an object")?, "JWT")?;
//! assert_eq!(token.split('.').count(), 3);
//!
//! // ...or over exact header and payload texts (a repeated member, say).
//! let odd = key.sign_raw(r#"{"alg":"ES256","kid":"k1"}"#, r#"{"sub":"a","sub":"b"}"#)?;
//! assert!(odd.starts_with("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0."));
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "remote")]
mod jwks_metrics;
mod signer;

#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub use jwks_metrics::CountingJwksMetrics;
pub use signer::{SigningKey, SigningKeyError, access_token_hash};

use crate::error::Error;
use crate::verified_token::VerifiedToken;
use crate::verifier::Verifier;

/// What `verifier`'s verified-token cache holds for `token`, looked at without any other
/// effect: `Some` when it is cached (verified, or refused because it has expired since), `None`
/// when a verification would check it in full (or caching is off). Nothing is verified or
/// counted, so a test can watch admission and eviction without taking part in them; requests
/// use [`Verifier::start`], which answers a cached token the same way.
///
/// ```
/// use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, Verifier, VerificationKey};
///
/// let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef")?;
/// let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
/// let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
/// let token = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLmNvbSIsImF1ZCI6Im15LWFwaSIsInN1YiI6InVzZXItMSIsImV4cCI6NDEwMjQ0NDgwMH0.1YFUOF9s-hTXa0XGtoQTwyKGVH3FIdXNiQiiFrX4Upw";
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// rt.block_on(verifier.verify(token))?;
/// assert!(tollgate_core::testing::cached(&verifier, token).is_none(), "admitted on the 2nd sighting");
/// rt.block_on(verifier.verify(token))?;
/// assert!(matches!(tollgate_core::testing::cached(&verifier, token), Some(Ok(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn cached(verifier: &Verifier, token: &str) -> Option<Result<VerifiedToken, Error>> {
    verifier.cached(token)
}
