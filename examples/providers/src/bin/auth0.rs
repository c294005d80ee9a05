//! An API accepting Auth0 access tokens for one API identifier.
//!
//! ```sh
//! AUTH0_DOMAIN=my-tenant.us.auth0.com AUTH0_AUDIENCE=https://api.example.com \
//! AUTH0_ROLES_CLAIM=https://example.com/roles \
//!     cargo run -p example-providers --bin auth0
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" localhost:3000/me
//! ```
//!
//! `AUTH0_DOMAIN` may list custom domains too (comma list). Roles come from `permissions`
//! unless `AUTH0_ROLES_CLAIM` (optional) names the claim your Action writes them to.
//! `KEY_URL` (optional) fetches the JWKS elsewhere.

use std::error::Error;
use std::process::ExitCode;

use example_providers::{env, list, optional, run};
use tollgate_core::providers::auth0::Auth0;
use tollgate_core::{ClaimPath, Verifier};

fn verifier() -> Result<Verifier, Box<dyn Error>> {
    let mut preset = Auth0::new(list(&env("AUTH0_DOMAIN")?), env("AUTH0_AUDIENCE")?);
    if let Some(claim) = optional("AUTH0_ROLES_CLAIM") {
        let claim = ClaimPath::new(&claim).map_err(|e| format!("AUTH0_ROLES_CLAIM: {e}"))?;
        preset = preset.roles_claim(claim);
    }
    if let Some(url) = optional("KEY_URL") {
        preset = preset.key_url(url);
    }
    Ok(preset.build()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    run("auth0", verifier()).await
}
