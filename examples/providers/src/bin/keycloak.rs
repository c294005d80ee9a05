//! An API accepting Keycloak access tokens of one realm, for one client.
//!
//! ```sh
//! KEYCLOAK_URL=https://sso.example.com KEYCLOAK_REALM=acme KEYCLOAK_CLIENT_ID=orders-api \
//!     cargo run -p example-providers --bin keycloak
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" localhost:3000/me
//! ```
//!
//! Realm roles and the client's roles are roles. Keys come by OIDC discovery of
//! `<KEYCLOAK_URL>/realms/<KEYCLOAK_REALM>` unless `KEY_URL` (optional) names the JWKS.
//! Old WildFly servers: `KEYCLOAK_URL=https://host/auth`.

use std::error::Error;
use std::process::ExitCode;

use example_providers::{env, optional, run};
use tollgate_core::Verifier;
use tollgate_core::providers::keycloak::Keycloak;

fn verifier() -> Result<Verifier, Box<dyn Error>> {
    let mut preset = Keycloak::new(
        env("KEYCLOAK_URL")?,
        env("KEYCLOAK_REALM")?,
        env("KEYCLOAK_CLIENT_ID")?,
    );
    if let Some(url) = optional("KEY_URL") {
        preset = preset.key_url(url);
    }
    Ok(preset.build()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    run("keycloak", verifier()).await
}
