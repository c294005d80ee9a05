//! A protected axum router. Run: `cargo run -p tollgate --example axum_quickstart`, then
//! `curl -H "Authorization: Bearer <token>" localhost:3000/me` with a token from your issuer
//! (set JWKS_URL, ISSUER and AUDIENCE).
use axum::{Router, routing::get};
use tollgate::core::remote::OidcSource;
use tollgate::core::{Algorithm, CryptoProvider, StandardClaims, Validation, Verifier};
use tollgate::{AuthLayer, Claims, RequireRole};

tollgate::role!(Admin = "admin");

async fn me(Claims(claims): Claims<StandardClaims>) -> String {
    format!("hello {}", claims.registered.sub.unwrap_or_default())
}

async fn admin(_: RequireRole<Admin>) -> &'static str {
    "admins only"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("ISSUER").unwrap_or_else(|_| "https://issuer.example.com".into());
    let policy = Validation::builder([Algorithm::RS256, Algorithm::ES256])
        .issuer(&issuer)
        .audience(std::env::var("AUDIENCE").unwrap_or_else(|_| "my-api".into()))
        .build()?;
    // Keys via OIDC discovery, fetched lazily on the first request and cached.
    let keys = OidcSource::lazy(&issuer)?;
    let verifier = Verifier::new(policy, keys, CryptoProvider::default());

    let app = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .layer(AuthLayer::new(verifier))
        .route("/public", get(|| async { "no token needed" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
