//! An Azure Functions custom handler: an axum Router behind Tollgate, on the port the Functions
//! host passes in `FUNCTIONS_CUSTOMHANDLER_PORT`. `host.json` sets
//! `enableForwardingHttpRequest`, so the host forwards each request as it came to
//! `/api/<function>`.
//!
//! Configuration (app settings, or `local.settings.json` under `func start`), read by the shared
//! `TOLLGATE_*` configuration (`tollgate_core::config`, the same variables as `tollgate serve`
//! with another prefix):
//! - Entra ID: `TOLLGATE_PROVIDER=entra`, `TOLLGATE_ENTRA_TENANT` (tenant id, or `organizations`
//!   with `TOLLGATE_ENTRA_ALLOWED_TENANTS`), `TOLLGATE_AUDIENCE` (client id and/or `api://...`);
//! - any other provider preset, or the generic `TOLLGATE_JWKS_URL`, `TOLLGATE_ISSUER`,
//!   `TOLLGATE_AUDIENCE`; keys are fetched on the first request and cached;
//! - `TOLLGATE_TRUST_EASY_AUTH=1` (optional): trust App Service Authentication's
//!   `X-MS-CLIENT-PRINCIPAL` instead of verifying a bearer token. Only when Easy Auth is enabled
//!   on the Function App and is its only ingress (see `tollgate_azure::easy_auth`); the three
//!   variables above are then not read;
//! - `RUST_LOG` (optional, default `info`): log filter; logs go to stderr, which the host collects.

use std::process::ExitCode;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tollgate::{AuthLayer, Authenticated, RequireRole};
use tollgate_azure::EasyAuthLayer;
use tollgate_azure::custom_handler::{function_route, listen_addr};
use tollgate_core::Verifier;
use tollgate_core::config::AuthConfig;

tollgate::role!(Admin = "admin");

/// `GET /api/me`: who the caller is.
async fn me(auth: Authenticated) -> Json<Value> {
    Json(json!({
        "sub": auth.subject(),
        "roles": auth.roles(),
        "scopes": auth.scopes(),
        "iss": auth.issuer(),
        "aud": auth.claims().get("aud"),
    }))
}

/// `GET /api/admin`: role `admin` only.
async fn admin(_: RequireRole<Admin>) -> Json<Value> {
    Json(json!({ "hello": "admin" }))
}

/// The one place the verifier is built: the shared `TOLLGATE_*` configuration
/// ([`tollgate_core::config`]), e.g. `TOLLGATE_PROVIDER=entra` with `TOLLGATE_ENTRA_TENANT` and
/// `TOLLGATE_AUDIENCE`, or the generic `TOLLGATE_JWKS_URL`/`TOLLGATE_ISSUER`/`TOLLGATE_AUDIENCE`.
fn layer_from_env() -> Result<AuthLayer, String> {
    let config = AuthConfig::from_env("TOLLGATE_").map_err(|e| e.to_string())?;
    tracing::info!("{}", config.summary());
    let verifier: Verifier = config.build().map_err(|e| e.to_string())?;
    // DPoP (TOLLGATE_DPOP, TOLLGATE_PUBLIC_URL: the function app's public URL; behind the
    // Functions host the request arrives at http://127.0.0.1:<port>, never the client's URL).
    Ok(match config.build_dpop().map_err(|e| e.to_string())? {
        Some(dpop) => AuthLayer::builder(verifier)
            .dpop(dpop, config.dpop().mode())
            .build(),
        None => AuthLayer::new(verifier),
    })
}

fn trust_easy_auth() -> bool {
    std::env::var("TOLLGATE_TRUST_EASY_AUTH").is_ok_and(|v| v == "1" || v == "true")
}

fn app() -> Result<Router, String> {
    let routes = Router::new()
        .route(&function_route("me"), get(me))
        .route(&function_route("admin"), get(admin));
    if trust_easy_auth() {
        tracing::info!("trusting Easy Auth's X-MS-CLIENT-PRINCIPAL; bearer tokens are not read");
        Ok(routes.layer(EasyAuthLayer::trust_easy_auth()))
    } else {
        Ok(routes.layer(layer_from_env()?))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "handler stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let app = app()?;
    let addr = listen_addr().map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "custom handler listening");
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("server error: {e}"))
}
