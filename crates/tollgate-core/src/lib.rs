//! Framework-free verification of JWT bearer tokens.
//!
//! `tollgate-core` turns a token string, a [`Validation`] policy and a [`KeySource`] into typed
//! claims or a precise [`Error`]. It knows nothing about HTTP frameworks: the `tollgate` crate
//! builds the tower layer and axum extractors on top of it.
//!
//! ```
//! use tollgate_core::{Algorithm, CryptoProvider, KeySet, StandardClaims, Validation, Verifier};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = KeySet::from_jwks(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",
//!     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#)?;
//! let policy = Validation::builder([Algorithm::EdDSA])
//!     .issuer("https://issuer.example.com")
//!     .audience("my-api")
//!     .build()?;
//! let verifier = Verifier::new(policy, keys, CryptoProvider::default());
//! # let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! # rt.block_on(async {
//! match verifier.verify("eyJhbGciOiJub25lIn0.e30.").await {
//!     // Claims as any `Deserialize` type, decoded once per token and shared.
//!     Ok(verified) => {
//!         let claims = verified.claims::<StandardClaims>()?;
//!         println!("hello {:?}", claims.registered.sub);
//!     }
//!     Err(err) => assert_eq!(err.public_description(), "unsigned tokens are not accepted"),
//! }
//! # Ok::<(), tollgate_core::Error>(())
//! # })?;
//! # Ok(())
//! # }
//! ```
//!
//! # Security properties
//! - Nothing is accepted by default: the algorithm allow-list is mandatory, `none` does not exist,
//!   `exp` is required, issuers and audiences are exact matches.
//! - Structure is checked before cryptography, and cryptography before claims: the token length is
//!   capped before decoding, base64url is strict and canonical, JSON member names must be unique.
//! - Keys are typed: a key is never used for an algorithm of another family (no RS/HS confusion),
//!   keys of a JWK Set that are not for signatures are skipped, RSA keys are at least 2048 bits and
//!   HMAC secrets at least as long as the hash.
//! - Keys are found only by `kid` in configured sources; `jku`, `x5u`, `jwk` and `x5c` in a token are
//!   ignored, and `crit` is refused.
//!
//! # Crypto backend
//! The features `aws-lc-rs` (default) and `rust-crypto` each compile in one backend; they are
//! additive (with both, [`CryptoProvider::default`] is AWS-LC and either can be chosen at run
//! time), and enabling neither is a compile error. The backend is passed explicitly as a
//! [`CryptoProvider`].

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod algorithm;
mod b64;
pub mod bearer;
mod claims;
pub mod clock;
#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub mod config;
mod crypto;
mod der;
pub mod dpop;
mod error;
mod header_memo;
mod json;
mod json_de;
mod jwk;
mod jws;
mod key;
mod key_set;
mod keyed_hash;
mod multi_issuer;
mod pem;
#[cfg(feature = "aws-lc-rs")]
mod prepared;
#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub mod providers;
mod registered;
#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub mod remote;
pub mod revocation;
mod roca;
mod rules;
mod scan;
pub mod signature;
mod source;
pub mod telemetry;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod token_cache;
mod token_verifier;
mod validation;
mod verified_token;
mod verifier;

pub use algorithm::{Algorithm, KeyFamily, UnknownAlgorithm};
pub use claims::{
    AccessClaims, Audience, ClaimPath, MAX_NUMERIC_DATE, RegisteredClaims, StandardClaims, scopes,
};
pub use crypto::CryptoProvider;
pub use error::{ConfigError, Error, ErrorCode, KeyError, KeyLookupError, KeyMismatch, Malformed};
pub use jws::TokenHeader;
pub use key::{MIN_HMAC_SECRET_BYTES, MIN_RSA_BITS, VerificationKey};
pub use key_set::{KeySet, MAX_KEYS_PER_SET};
pub use multi_issuer::{ENTRA_ID_V2_ISSUER, MultiIssuer, MultiIssuerBuilder};
pub use rules::{ClaimRule, TENANT_PLACEHOLDER, Tenants};
pub use source::{KeyFuture, KeyRequest, KeyResult, KeySource};
pub use token_cache::{
    DEFAULT_CACHE_ENTRIES, DEFAULT_CACHE_MAX_TOKEN_BYTES, DEFAULT_CACHE_TTL, TokenCacheConfig,
    TokenCacheStats,
};
pub use token_verifier::{PendingVerification, TokenVerifier, Verification, VerificationFuture};
pub use validation::{
    ClaimCheck, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, MAX_LEEWAY, MAX_REQUIRED_CLAIMS,
    Validation, ValidationBuilder,
};
pub use verified_token::VerifiedToken;
pub use verifier::{Verifier, VerifierBuilder};
