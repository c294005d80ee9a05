//! An axum Router behind Tollgate, run by the Lambda runtime (`lambda_http::run`) for API
//! Gateway REST/HTTP APIs, function URLs and ALBs alike.
//!
//! Configuration (environment of the function):
//! - `TOLLGATE_ISSUER`, `TOLLGATE_AUDIENCE`: the tokens' `iss` and `aud` (required);
//! - `TOLLGATE_JWKS_URL`: the issuer's JWK Set, fetched on the first request of each container
//!   and cached across warm invocations;
//! - `TOLLGATE_JWKS` (optional): the JWK Set itself, preloaded at start-up so that the cold start
//!   fetches nothing; unknown `kid`s still go to `TOLLGATE_JWKS_URL`;
//! - `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true` for REST APIs, whose paths otherwise start with
//!   the stage (`/prod/me`).
//!
//! ```sh
//! cargo lambda build --release --example lambda_router -p tollgate-lambda
//! ```

use axum::Router;
use axum::routing::get;
use tollgate::{AuthLayer, Claims, RequireRole};
use tollgate_core::remote::JwksSource;
use tollgate_core::{Algorithm, CryptoProvider, StandardClaims, Validation, Verifier};
use tollgate_lambda::{PreloadedKeys, preload_jwks_from_env};

tollgate::role!(Admin = "admin");

async fn me(Claims(claims): Claims<StandardClaims>) -> String {
    format!("hello {}\n", claims.registered.sub.unwrap_or_default())
}

async fn admin(_: RequireRole<Admin>) -> &'static str {
    "hello admin\n"
}

fn required(name: &str) -> Result<String, lambda_http::Error> {
    std::env::var(name).map_err(|_| format!("{name} must be set").into())
}

/// Everything that lives for the whole container: built once, before the first invocation.
/// (`pub`: the end-to-end test's binary, `tests/e2e/function.rs`, and the cold-start benchmark,
/// `benches/cold_start.rs`, run this same app.)
pub fn app() -> Result<Router, lambda_http::Error> {
    let policy = Validation::builder([Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
        .issuer(required("TOLLGATE_ISSUER")?)
        .audience(required("TOLLGATE_AUDIENCE")?)
        .build()?;
    let crypto = CryptoProvider::default();
    let jwks_url = required("TOLLGATE_JWKS_URL")?;
    let lazy = JwksSource::builder(jwks_url)
        // cargo lambda watch and local tests serve keys over plain HTTP on loopback only.
        .allow_insecure_http(std::env::var("TOLLGATE_ALLOW_HTTP_JWKS").is_ok())
        .build()?;
    let verifier = match preload_jwks_from_env("TOLLGATE_JWKS")? {
        Some(keys) => Verifier::new(policy, PreloadedKeys::new(keys, lazy), crypto),
        None => Verifier::new(policy, lazy, crypto),
    };
    let protected = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .layer(AuthLayer::new(verifier));
    Ok(Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .merge(protected))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(app()?).await
}
