//! Issuers with keys of their own, each serving its JWK Set from a [`Loopback`], for the suites
//! that route several issuers (`MultiIssuer` behind the layer and behind the Lambda authorizer).
//!
//! Every [`LoopbackIssuer`]'s key carries the same kid, [`KID`]: a token signed with one issuer's
//! key but claiming another issuer then finds a key by its kid in the other issuer's set, and only
//! the signature check can refuse it (a kid unknown to the other set would be refused earlier,
//! and test less).
//!
//! This crate's `tollgate-core` has no `remote` feature, so the suites build the key sources
//! themselves and hand them to [`multi_issuer`]:
//!
//! ```
//! use tollgate_test_support::issuers::{LoopbackIssuer, multi_issuer};
//! use tollgate_core::{Error, KeySet};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let a = LoopbackIssuer::start("https://a.example.com").await;
//! let b = LoopbackIssuer::start("https://b.example.com").await;
//! // The suites pass a `JwksSource` over `jwks_url()`; a static set works the same way.
//! let router = multi_issuer(&[&a, &b], "api", |issuer| {
//!     KeySet::from_jwks(&issuer.jwks().to_string()).unwrap()
//! });
//! assert!(router.verify(&a.token("api")).await.is_ok());
//! assert!(router.verify(&b.token("api")).await.is_ok());
//! // A's key, B's name: routed to B, whose key of the same kid refuses the signature.
//! let forged = a.sign(&b.claims("api"));
//! assert!(matches!(router.verify(&forged).await, Err(Error::InvalidSignature)));
//! # }
//! ```

use std::sync::Arc;

use serde_json::{Value, json};
use tollgate_core::testing::SigningKey;
use tollgate_core::{Algorithm, KeySource, MultiIssuer, Validation};

use crate::server::Loopback;

/// The kid of every [`LoopbackIssuer`]'s key.
pub const KID: &str = "issuer-key";

/// Where a [`LoopbackIssuer`] serves its JWK Set.
pub const JWKS_PATH: &str = "/jwks";

/// An issuer name with a fresh ES256 key (kid [`KID`]) whose public JWK Set is served at
/// [`JWKS_PATH`] of a loopback server (on the current tokio runtime, until the test ends).
#[derive(Debug)]
pub struct LoopbackIssuer {
    issuer: String,
    key: SigningKey,
    server: Arc<Loopback>,
}

impl LoopbackIssuer {
    /// Generates the key and starts serving its JWK Set; `issuer` is the `iss` of its tokens.
    pub async fn start(issuer: &str) -> LoopbackIssuer {
        let key = SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid(KID);
        let jwks = json!({"keys": [key.public_jwk().unwrap()]});
        let server = Loopback::json(JWKS_PATH, &jwks).await;
        LoopbackIssuer {
            issuer: issuer.to_owned(),
            key,
            server,
        }
    }

    /// The `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The URL of its JWK Set (plain HTTP on `127.0.0.1`).
    pub fn jwks_url(&self) -> String {
        self.server.url(JWKS_PATH)
    }

    /// The JWK Set it serves.
    pub fn jwks(&self) -> Value {
        json!({"keys": [self.key.public_jwk().unwrap()]})
    }

    /// How many times its JWK Set was fetched.
    pub fn jwks_hits(&self) -> usize {
        self.server.hits(JWKS_PATH)
    }

    /// ES256, this issuer, `audience`.
    pub fn policy(&self, audience: &str) -> Validation {
        Validation::builder([Algorithm::ES256])
            .issuer(&self.issuer)
            .audience(audience)
            .build()
            .unwrap()
    }

    /// [`claims`](crate::claims) with this issuer's `iss` and `audience` as `aud`.
    pub fn claims(&self, audience: &str) -> Value {
        let mut claims = crate::claims();
        claims["iss"] = json!(self.issuer);
        claims["aud"] = json!(audience);
        claims
    }

    /// Signs `claims` with this issuer's key (header `{"alg":"ES256","kid":KID,"typ":"JWT"}`),
    /// whatever their `iss` says.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": KID, "typ": "JWT"});
        self.key
            .sign_raw(&header.to_string(), &claims.to_string())
            .unwrap()
    }

    /// A valid token of this issuer for `audience`.
    pub fn token(&self, audience: &str) -> String {
        self.sign(&self.claims(audience))
    }
}

/// A [`MultiIssuer`] routing each issuer to its own [`policy`](LoopbackIssuer::policy) for
/// `audience` and the key source `keys` builds for it (e.g. a `JwksSource` over its
/// [`jwks_url`](LoopbackIssuer::jwks_url)).
pub fn multi_issuer<K: KeySource>(
    issuers: &[&LoopbackIssuer],
    audience: &str,
    keys: impl Fn(&LoopbackIssuer) -> K,
) -> MultiIssuer {
    issuers
        .iter()
        .fold(MultiIssuer::builder(), |builder, issuer| {
            builder.issuer(issuer.issuer(), issuer.policy(audience), keys(issuer))
        })
        .build()
        .unwrap()
}
