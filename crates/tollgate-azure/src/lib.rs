//! Tollgate on Azure Functions and App Service.
//!
//! 1. **Verify in the function**: an Azure Functions
//!    [custom handler](https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers)
//!    is a plain HTTP server, so the usual axum `Router` behind
//!    [`AuthLayer`](tollgate::AuthLayer) runs unchanged. With `enableForwardingHttpRequest: true`
//!    in `host.json` the host forwards the original request (method, headers, body) to
//!    `http://127.0.0.1:<port>/api/<function>`; [`custom_handler`] has the port
//!    ([`listen_addr`](custom_handler::listen_addr)) and the paths
//!    ([`function_route`](custom_handler::function_route)).
//! 2. **Trust App Service Authentication ("Easy Auth")** ([`EasyAuthLayer`]): when Easy Auth
//!    signs users in before the request reaches the app, read the principal it forwards in
//!    `X-MS-CLIENT-PRINCIPAL` into the same [`Claims<T>`](tollgate::Claims) and guards, without
//!    a token to verify. Opt-in; read the trust boundary in [`easy_auth`] first.
//!
//! # A custom handler
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tollgate::{AuthLayer, Claims};
//! use tollgate::core::remote::JwksSource;
//! use tollgate::core::{Algorithm, CryptoProvider, StandardClaims, Validation, Verifier};
//! use tollgate_azure::custom_handler::{function_route, listen_addr};
//!
//! async fn me(Claims(claims): Claims<StandardClaims>) -> String {
//!     claims.registered.sub.unwrap_or_default()
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let policy = Validation::builder([Algorithm::RS256])
//!         .issuer("https://issuer.example.com")
//!         .audience("my-api")
//!         .build()?;
//!     let keys = JwksSource::builder("https://issuer.example.com/.well-known/jwks.json").build()?;
//!     let verifier = Verifier::new(policy, keys, CryptoProvider::default());
//!     let app = Router::new()
//!         .route(&function_route("me"), get(me)) // "/api/me"
//!         .layer(AuthLayer::new(verifier));
//!     let listener = tokio::net::TcpListener::bind(listen_addr()?).await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod custom_handler;
pub mod easy_auth;

pub use easy_auth::{
    ClientPrincipal, EasyAuthFuture, EasyAuthLayer, EasyAuthService, PrincipalClaim, PrincipalError,
};
