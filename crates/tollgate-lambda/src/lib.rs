//! Tollgate on AWS Lambda: the same verification policy three ways.
//!
//! 1. **Verify in the function** ([`lambda_http`] + [`AuthLayer`](tollgate::AuthLayer)): the
//!    same axum `Router` that runs on a server runs under `lambda_http::run`, for API Gateway
//!    REST APIs (payload 1.0), HTTP APIs (2.0), function URLs (2.0) and ALB target groups. Keys
//!    come from a [`JwksSource`](tollgate_core::remote::JwksSource) built once per container:
//!    fetched on the first request, cached across warm invocations, no background timer. An
//!    optional preloaded JWK Set ([`preload_jwks_from_env`], [`preload_jwks_from_file`],
//!    [`PreloadedKeys`]) removes the fetch from the cold start.
//! 2. **Verify in an API Gateway Lambda authorizer** ([`Authorizer`]): REST `TOKEN` and
//!    `REQUEST` authorizers answering with an IAM policy and a `context` of chosen claims; HTTP
//!    API authorizers answering with the simple response. API Gateway caches the answer.
//! 3. **Trust the claims API Gateway verified** ([`TrustedClaimsLayer`]): behind API Gateway's
//!    JWT authorizer or a Lambda authorizer, read the claims from the request context into the
//!    same [`Claims<T>`](tollgate::Claims) and guards, without verifying again. Opt-in; read the
//!    trust boundary in [`upstream`] first.
//!
//! HS256 secrets come from the AWS Parameters and Secrets Lambda Extension
//! ([`ParametersSecretsSource`], with re-read on rotation through [`SecretVerifier`]), an
//! environment variable or a file ([`hmac_key_from_env`], [`hmac_key_from_file`]).
//!
//! # Running a Router under `lambda_http`
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tollgate::{AuthLayer, Claims};
//! use tollgate_core::{Algorithm, CryptoProvider, StandardClaims, Validation, Verifier};
//! use tollgate_core::remote::JwksSource;
//! use tollgate_lambda::{PreloadedKeys, preload_jwks_from_env};
//!
//! async fn me(Claims(claims): Claims<StandardClaims>) -> String {
//!     claims.registered.sub.unwrap_or_default()
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_http::Error> {
//!     // Built once per container, outside the handler: the cache survives warm invocations.
//!     let jwks = JwksSource::builder("https://issuer.example.com/.well-known/jwks.json").build()?;
//!     let policy = Validation::builder([Algorithm::RS256])
//!         .issuer("https://issuer.example.com")
//!         .audience("my-api")
//!         .build()?;
//!     let verifier = match preload_jwks_from_env("TOLLGATE_JWKS")? {
//!         Some(keys) => Verifier::new(policy, PreloadedKeys::new(keys, jwks), CryptoProvider::default()),
//!         None => Verifier::new(policy, jwks, CryptoProvider::default()),
//!     };
//!     let app = Router::new().route("/me", get(me)).layer(AuthLayer::new(verifier));
//!     lambda_http::run(app).await
//! }
//! ```
//!
//! REST API events carry the stage in the path (`/prod/me`) unless the environment variable
//! `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set; nest the router under the stage or set it.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod authorizer;
pub mod preload;
#[cfg(feature = "secrets")]
pub mod secrets;
pub mod upstream;

pub use lambda_http;

pub use authorizer::{
    Authorizer, AuthorizerBuilder, AuthorizerError, AuthorizerEvent, PolicyResource,
    PolicyResponse, SimpleResponse,
};
pub use preload::{PreloadError, PreloadedKeys, preload_jwks_from_env, preload_jwks_from_file};
#[cfg(feature = "secrets")]
pub use secrets::{
    ParametersSecretsSource, ParametersSecretsSourceBuilder, Refresh, SecretEncoding, SecretError,
    SecretId, SecretVerifier, hmac_key_from_env, hmac_key_from_file,
};
pub use upstream::{TrustedClaimsLayer, TrustedClaimsService, Upstream};
