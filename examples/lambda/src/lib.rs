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
//!
//! Revocation: `TOLLGATE_REVOCATION_REDIS_URL=redis[s]://host[:port][/db]` (an ElastiCache
//! endpoint in the function's VPC, `rediss://` with in-transit encryption; see the README) turns on the revocations written by `tollgate
//! revoke`, and with `TOLLGATE_DPOP` on moves the proof replay store to the same Redis;
//! `TOLLGATE_REVOCATION_FAIL_OPEN=1` accepts tokens while Redis is unreachable. The connection
//! and the local mirror are made once per container, at init, and kept across warm invocations.
//! A frozen container's mirror is stale when it thaws: a request then waits (at most
//! [`REVOCATION_WAIT`]) for the mirror's next contact with Redis, instead of failing at once.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tollgate::{AuthLayer, Claims, RequireRole};
use tollgate_core::config::AuthConfig;
use tollgate_core::dpop::DpopMode;
use tollgate_core::{KeySource, StandardClaims, VerifierBuilder};
use tollgate_lambda::{PreloadedKeys, preload_jwks_from_env};
use tollgate_redis::{RedisReplayStore, RedisRevocations, ReplayOptions, RevocationOptions};

/// Longest a request waits for a stale revocation mirror (a container just thawed, or Redis
/// just reconnected) before the failure mode decides: a ping to a healthy Redis in the VPC
/// takes a millisecond, a reconnect and full read a few.
pub const REVOCATION_WAIT: Duration = Duration::from_secs(2);

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
    // Redis (TOLLGATE_REVOCATION_REDIS_URL): connected in the background on this runtime, so an
    // unreachable Redis does not fail the init (requests get 503, or pass with fail-open).
    let (revocation, replay) = match config.revocation() {
        Some(settings) => {
            let mirror =
                RedisRevocations::connect(settings.redis_url(), RevocationOptions::default())?;
            let replay = match config.dpop().mode() {
                DpopMode::Off => None,
                _ => Some(RedisReplayStore::connect(
                    settings.redis_url(),
                    ReplayOptions::default(),
                )?),
            };
            let check = mirror.waiting_up_to(REVOCATION_WAIT);
            (Some((check, settings.failure_mode())), replay)
        }
        None => (None, None),
    };
    let finish = |builder: VerifierBuilder| match &revocation {
        Some((check, mode)) => builder.revocation(check.clone(), *mode),
        None => builder,
    };
    let verifier = match preload_jwks_from_env("TOLLGATE_JWKS")? {
        Some(keys) => config.build_with(
            |lazy| -> Arc<dyn KeySource> { Arc::new(PreloadedKeys::new(keys, lazy)) },
            finish,
        )?,
        None => config.build_parts_with(finish)?.verifier,
    };
    // DPoP (TOLLGATE_DPOP, TOLLGATE_PUBLIC_URL: the API's custom domain or stage URL, since
    // `htu` is never taken from the Host header).
    let dpop = config.build_dpop_with(|builder| match replay {
        Some(store) => builder.replay_store(store),
        None => builder,
    })?;
    let layer = match dpop {
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
