//! An API accepting access tokens of an Okta custom authorization server.
//!
//! ```sh
//! OKTA_ISSUER=https://example.okta.com/oauth2/default cargo run -p example-providers --bin okta
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" localhost:3000/me
//! ```
//!
//! `OKTA_AUDIENCE` (optional) replaces `api://default`. Roles come from `groups` (a claim you
//! add to the authorization server). Keys by OIDC discovery of the issuer unless `KEY_URL`
//! (optional) names the JWKS.

use std::error::Error;
use std::process::ExitCode;

use example_providers::{env, optional, run};
use tollgate_core::Verifier;
use tollgate_core::providers::okta::Okta;

fn verifier() -> Result<Verifier, Box<dyn Error>> {
    let mut preset = Okta::new(env("OKTA_ISSUER")?);
    if let Some(audience) = optional("OKTA_AUDIENCE") {
        preset = preset.audience(audience);
    }
    if let Some(url) = optional("KEY_URL") {
        preset = preset.key_url(url);
    }
    Ok(preset.build()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    run("okta", verifier()).await
}
