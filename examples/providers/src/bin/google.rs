//! An API accepting Google Sign-In ID tokens for your OAuth clients.
//!
//! ```sh
//! GOOGLE_CLIENT_IDS=1234-abc.apps.googleusercontent.com GOOGLE_HOSTED_DOMAIN=example.com \
//!     cargo run -p example-providers --bin google
//! curl -H "Authorization: Bearer $ID_TOKEN" localhost:3000/me
//! ```
//!
//! `GOOGLE_CLIENT_IDS` is a comma list; `GOOGLE_HOSTED_DOMAIN` (optional) admits only that
//! Workspace domain (`hd`). Google tokens carry no roles, so `/admin` answers 403.
//! `KEY_URL` (optional) fetches the JWKS elsewhere.

use std::error::Error;
use std::process::ExitCode;

use example_providers::{env, list, optional, run};
use tollgate_core::Verifier;
use tollgate_core::providers::google::Google;

fn verifier() -> Result<Verifier, Box<dyn Error>> {
    let mut preset = Google::new(list(&env("GOOGLE_CLIENT_IDS")?));
    if let Some(domain) = optional("GOOGLE_HOSTED_DOMAIN") {
        preset = preset.hosted_domain(domain);
    }
    if let Some(url) = optional("KEY_URL") {
        preset = preset.key_url(url);
    }
    Ok(preset.build()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    run("google", verifier()).await
}
