//! The protected API of `serve` and `demo`: `/public`, `/healthz`, `/me`, `/admin`.

use std::net::SocketAddr;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use tollgate::core::dpop::{DpopMode, DpopVerifier};
use tollgate::{AuthLayer, Authenticated, RequireRole, TokenVerifier};

tollgate::role!(Admin = "admin");

async fn public() -> impl IntoResponse {
    axum::Json(json!({ "message": "public: no token needed" }))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// `aud` as an array, whether the token had a string or an array.
fn audiences(claims: &serde_json::Map<String, Value>) -> Vec<Value> {
    match claims.get("aud") {
        Some(Value::Array(values)) => values.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    }
}

async fn me(auth: Authenticated) -> impl IntoResponse {
    let claims = auth.claims();
    let mut body = json!({
        "sub": auth.subject(),
        "roles": auth.roles(),
        "scopes": auth.scopes(),
        "iss": auth.issuer(),
        "aud": audiences(claims),
        "exp": claims.get("exp"),
    });
    // A DPoP request: the thumbprint of the key that signed its proof (the token's `cnf.jkt`).
    if let (Some(proof), Some(members)) = (auth.dpop(), body.as_object_mut()) {
        members.insert("jkt".to_owned(), json!(proof.jkt()));
    }
    axum::Json(body)
}

async fn admin(guard: RequireRole<Admin>) -> impl IntoResponse {
    axum::Json(json!({
        "message": "welcome, admin",
        "sub": guard.0.subject(),
    }))
}

/// The API: `/public` and `/healthz` open, `/me` and `/admin` behind the [`AuthLayer`]. Roles
/// and scopes are read where the verifier's [`AccessClaims`](tollgate::core::AccessClaims) say
/// (a preset's, or `AUTH_ROLES_CLAIM`): the layer gets no override of its own. With `dpop`, the
/// layer checks DPoP proofs in that mode (without, Bearer only; a token bound to a key is
/// refused as Bearer either way).
pub(crate) fn router(
    verifier: impl TokenVerifier,
    dpop: Option<(DpopVerifier, DpopMode)>,
) -> Router {
    let mut layer = AuthLayer::builder(verifier);
    if let Some((dpop, mode)) = dpop {
        layer = layer.dpop(dpop, mode);
    }
    let protected = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .layer(layer.build());
    Router::new()
        .route("/public", get(public))
        .route("/healthz", get(healthz))
        .merge(protected)
}

/// Binds `addr`; the error is one line naming the address.
pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Serves `app` on `listener` until Ctrl-C (or SIGTERM on Unix).
pub(crate) async fn serve(listener: tokio::net::TcpListener, app: Router) -> Result<(), String> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server failed: {e}"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
