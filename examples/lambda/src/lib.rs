//! The app of the `lambda_router` binary (`src/bin/lambda_router.rs`): an axum Router behind
//! Tollgate, for API Gateway REST/HTTP APIs, function URLs and ALBs alike. In a library so that
//! the cold-start benchmark (`benches/cold_start.rs`) measures this same app.
//!
//! Configuration (environment of the function), read by
//! [`AuthConfig::from_env("TOLLGATE_")`](tollgate_core::config) — the variables of
//! `tollgate serve` with the prefix `TOLLGATE_` instead of `AUTH_`:
//! - a provider preset: `TOLLGATE_PROVIDER=cognito` with `TOLLGATE_COGNITO_USER_POOL_ID` and
//!   `TOLLGATE_COGNITO_CLIENT_IDS` (access tokens, no audience needed), or `auth0`, `firebase`,
//!   `entra`, `keycloak`, `google`, `okta` with their variables;
//! - or the generic variables: `TOLLGATE_JWKS_URL` (or `TOLLGATE_OIDC_ISSUER`, or
//!   `TOLLGATE_HS256_SECRET`), `TOLLGATE_ISSUER`, `TOLLGATE_AUDIENCE` (unset: not checked),
//!   `TOLLGATE_ALGORITHMS` (default RS256);
//! - `TOLLGATE_ROLES_CLAIM`, `TOLLGATE_LEEWAY_SECS` in either mode.
//!
//! Remote keys are fetched on the first request of each container and cached across warm
//! invocations. `TOLLGATE_JWKS` (optional) is the JWK Set itself, preloaded at start-up so that
//! the cold start fetches nothing; unknown `kid`s still go to the remote source (any mode with
//! remote keys, presets included). `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH=true` for REST APIs,
//! whose paths otherwise start with the stage (`/prod/me`).

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tollgate::{AuthLayer, Claims, RequireRole};
use tollgate_core::config::AuthConfig;
use tollgate_core::{KeySource, StandardClaims};
use tollgate_lambda::{PreloadedKeys, preload_jwks_from_env};

tollgate::role!(Admin = "admin");

async fn me(Claims(claims): Claims<StandardClaims>) -> String {
    format!("hello {}\n", claims.registered.sub.unwrap_or_default())
}

async fn admin(_: RequireRole<Admin>) -> &'static str {
    "hello admin\n"
}

/// Everything that lives for the whole container: built once, before the first invocation.
/// `/health` is open; `/me` needs a valid token, `/admin` the role `admin` too.
pub fn app() -> Result<Router, lambda_http::Error> {
    // A bad configuration fails the init with one line naming the variable.
    let config = AuthConfig::from_env("TOLLGATE_")?;
    let verifier = match preload_jwks_from_env("TOLLGATE_JWKS")? {
        Some(keys) => config.build_with_keys(|lazy| -> Arc<dyn KeySource> {
            Arc::new(PreloadedKeys::new(keys, lazy))
        })?,
        None => config.build()?,
    };
    // DPoP (TOLLGATE_DPOP, TOLLGATE_PUBLIC_URL: the API's custom domain or stage URL, since
    // `htu` is never taken from the Host header).
    let layer = match config.build_dpop()? {
        Some(dpop) => AuthLayer::builder(verifier)
            .dpop(dpop, config.dpop().mode())
            .build(),
        None => AuthLayer::new(verifier),
    };
    let protected = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .layer(layer);
    Ok(Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .merge(protected))
}
