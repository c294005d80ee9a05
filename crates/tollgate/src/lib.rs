//! Bearer-token (JWT) authentication for tower and axum.
//!
//! - [`AuthLayer`] verifies the token of every request (with a
//!   [`tollgate_core::Verifier`]) and answers failures per RFC 6750;
//! - DPoP (RFC 9449, sender-constrained tokens): [`AuthLayerBuilder::dpop`] accepts
//!   `Authorization: DPoP` with a proof of the client's key, and [`DpopProof`] hands handlers
//!   the key's thumbprint;
//! - [`Claims<T>`] hands handlers the verified claims as their own type;
//! - `Option<Claims<T>>` for routes behind an [`optional`](AuthLayerBuilder::optional) layer;
//! - guards ([`RequireRole`], [`RequireAnyRole`], [`RequireAllRoles`], the same for scopes, and
//!   the route layers [`require_role`], [`require_any_role`], [`require_all_roles`]...) answer
//!   403 `insufficient_scope` when a role or scope is missing;
//! - every failure answer (the layer's, the extractors', the guards') goes through one
//!   [`ErrorResponder`] ([`Answering`]), RFC 6750 by default;
//! - gRPC calls (`content-type: application/grpc*`) are refused the gRPC way (trailers-only,
//!   `grpc-status` 16/7/14) and, with the `tonic` feature, tonic handlers read the claims
//!   ([`grpc`]);
//! - [`AuthLayerBuilder::require_https`] refuses tokens sent over plain HTTP (RFC 6750 5.3),
//!   believing forwarded headers from trusted proxies only ([`HttpsPolicy`]);
//! - [`ForwardClaimsLayer`] passes claims to an upstream as headers;
//! - [`metadata`] serves RFC 9728 protected-resource metadata.
//!
//! ```
//! use axum::{Router, routing::get};
//! use tollgate::{AuthLayer, Claims, RequireRole};
//! use tollgate::core::{Algorithm, CryptoProvider, KeySet, StandardClaims, Validation, Verifier,
//!                      VerificationKey};
//!
//! tollgate::role!(Admin = "admin");
//!
//! async fn me(Claims(claims): Claims<StandardClaims>) -> String {
//!     claims.registered.sub.unwrap_or_default()
//! }
//! async fn admin(_: RequireRole<Admin>) -> &'static str {
//!     "welcome, admin"
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = VerificationKey::hmac(b"0123456789abcdef0123456789abcdef")?;
//! let policy = Validation::builder([Algorithm::HS256]).audience("my-api").build()?;
//! let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/admin", get(admin))
//!     .layer(AuthLayer::new(verifier));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod claims;
mod dpop;
mod forward;
pub mod grpc;
mod guard;
mod https;
mod layer;
pub mod metadata;
mod response;
mod token;

#[cfg(feature = "testing")]
pub mod testing;

pub use tollgate_core as core;

pub use claims::{Authenticated, Claims};
pub use dpop::DpopProof;
pub use forward::{ForwardClaims, ForwardClaimsLayer, ForwardConfigError};
pub use guard::{
    GuardFuture, GuardLayer, GuardService, RequireAllRoles, RequireAllScopes, RequireAnyRole,
    RequireAnyScope, RequireRole, RequireScope, Role, Roles, Scope, Scopes, require_all_roles,
    require_all_scopes, require_any_role, require_any_scope, require_role, require_scope,
};
pub use https::{HttpsPolicy, PeerAddr};
pub use layer::{AuthLayer, AuthLayerBuilder, AuthService, ResponseFuture, TokenVerifier};
pub use response::{
    Answering, AuthError, AuthRejection, Challenge, ErrorResponder, Rfc6750Responder,
};
pub use token::{AuthScheme, InvalidRequest};

/// The README's examples are compiled and run as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
