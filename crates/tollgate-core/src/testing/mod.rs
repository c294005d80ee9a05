//! Signing for tests and development tokens (feature `testing`): never for production issuing.
//!
//! [`SigningKey`] is the one test signer of the workspace. It is built directly on aws-lc-rs, not
//! on the verification code of this crate, so a test that signs with it and verifies with a
//! [`Verifier`](crate::Verifier) checks two independent implementations against each other. It
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

mod signer;

pub use signer::{SigningKey, SigningKeyError};
