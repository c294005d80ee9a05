//! DPoP (RFC 9449) in handlers: the [`DpopProof`] extractor.
//!
//! The [`AuthLayer`](crate::AuthLayer) checks proofs when it is given a
//! [`DpopVerifier`](tollgate_core::dpop::DpopVerifier) and a mode
//! ([`AuthLayerBuilder::dpop`](crate::AuthLayerBuilder::dpop)); a handler that wants the
//! client's key thumbprint (to tie state to the key, or log it) takes a [`DpopProof`].

use std::ops::Deref;
use std::sync::Arc;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use tollgate_core::dpop::VerifiedProof;

use crate::claims::{authenticated, rejection};
use crate::response::{AuthError, AuthRejection};
use crate::token::AuthScheme;

/// The DPoP proof the layer verified for this request: the request presented a DPoP-bound token
/// (`Authorization: DPoP`) with a valid `DPoP` proof for this method and URI, signed by the key
/// the token is bound to.
///
/// Rejects with 401 when the request carries no verified token, and with 401 `invalid_token`
/// (a `DPoP` challenge) when it was a bearer request: a route that takes `DpopProof` is
/// DPoP-only even behind a layer in [`Allowed`](tollgate_core::dpop::DpopMode::Allowed) mode.
/// `Option<DpopProof>` is `None` for a bearer request instead. Cheap to clone.
///
/// ```
/// use axum::{Router, routing::post};
/// use tollgate::{AuthLayer, DpopProof};
/// use tollgate::core::dpop::{DpopMode, DpopVerifier};
/// use tollgate::core::{Algorithm, CryptoProvider, KeySet, Validation, Verifier};
///
/// async fn transfer(proof: DpopProof) -> String {
///     // The thumbprint of the client's key: the same for every request of that client.
///     format!("signed by {}", proof.jkt())
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let keys = KeySet::new();
/// let policy = Validation::builder([Algorithm::ES256]).audience("payments").build()?;
/// let verifier = Verifier::new(policy, keys, CryptoProvider::default());
/// // The origin clients call, never taken from the request's Host header.
/// let dpop = DpopVerifier::builder("https://api.example.com")?.build();
/// let app: Router = Router::new()
///     .route("/transfers", post(transfer))
///     .layer(AuthLayer::builder(verifier).dpop(dpop, DpopMode::Required).build());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DpopProof(Arc<VerifiedProof>);

impl DpopProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url: the token's `cnf.jkt`.
    pub fn jkt(&self) -> &str {
        self.0.jkt()
    }

    /// The verified proof.
    pub fn proof(&self) -> &VerifiedProof {
        &self.0
    }
}

impl Deref for DpopProof {
    type Target = VerifiedProof;

    fn deref(&self) -> &VerifiedProof {
        &self.0
    }
}

impl<S> FromRequestParts<S> for DpopProof
where
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let auth = authenticated(parts)?;
        match auth.shared_proof() {
            Some(proof) => Ok(DpopProof(proof.clone())),
            None => Err(rejection(
                AuthError::SchemeNotAccepted(AuthScheme::Bearer),
                parts,
            )),
        }
    }
}

/// `Option<DpopProof>`: the proof of a DPoP request, `None` for a bearer request or one
/// without a verified token.
impl<S> OptionalFromRequestParts<S> for DpopProof
where
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(authenticated(parts)
            .ok()
            .and_then(|auth| auth.shared_proof().cloned().map(DpopProof)))
    }
}
