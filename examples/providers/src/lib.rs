//! The part every provider example shares: the protected Router, the server, and reading the
//! environment. Each binary in `src/bin/` only builds its provider's [`Verifier`].

use std::error::Error;
use std::process::ExitCode;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tollgate::{AuthLayer, Authenticated, RequireRole};
use tollgate_core::Verifier;

tollgate::role!(Admin = "admin");

/// `/public` open; `/me` (who the token says you are) and `/admin` (role `admin`) behind the
/// [`AuthLayer`].
pub fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .layer(AuthLayer::new(verifier))
        .route("/public", get(|| async { "no token needed\n" }))
}

async fn me(auth: Authenticated) -> Json<Value> {
    Json(json!({
        "sub": auth.subject(),
        "roles": auth.roles(),
        "scopes": auth.scopes(),
        "iss": auth.issuer(),
    }))
}

async fn admin(_: RequireRole<Admin>) -> &'static str {
    "welcome, admin\n"
}

/// Serves [`app`] on `BIND` (default `127.0.0.1:3000`); prints the address it listens on.
pub async fn serve(verifier: Verifier) -> std::io::Result<()> {
    let bind = optional("BIND").unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(verifier)).await
}

/// Serves the verifier, or reports the configuration error on one line and exits with 2.
pub async fn run(name: &str, verifier: Result<Verifier, Box<dyn Error>>) -> ExitCode {
    let verifier = match verifier {
        Ok(verifier) => verifier,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(verifier).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A required environment variable (trimmed, non-empty); the error names it.
pub fn env(name: &str) -> Result<String, String> {
    optional(name).ok_or_else(|| format!("environment variable {name} is not set"))
}

/// An optional environment variable (unset and empty are the same).
pub fn optional(name: &str) -> Option<String> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// A comma-separated list: `a, b,c` is `["a", "b", "c"]`.
pub fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::list;

    #[test]
    fn lists() {
        assert_eq!(list(" a, b,,c "), ["a", "b", "c"]);
        assert!(list("").is_empty());
    }
}
