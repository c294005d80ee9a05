//! An API accepting Amazon Cognito access tokens of one user pool.
//!
//! ```sh
//! COGNITO_USER_POOL_ID=us-east-1_AbC123 COGNITO_CLIENT_IDS=7d8h2kl3example \
//!     cargo run -p example-providers --bin cognito
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" localhost:3000/me
//! ```
//!
//! `COGNITO_CLIENT_IDS` is a comma list of app client ids; `KEY_URL` (optional) fetches the
//! JWKS elsewhere, e.g. from cognito-local or LocalStack. Groups (`cognito:groups`) are roles.

use std::error::Error;
use std::process::ExitCode;

use example_providers::{env, list, optional, run};
use tollgate_core::Verifier;
use tollgate_core::providers::cognito::Cognito;

fn verifier() -> Result<Verifier, Box<dyn Error>> {
    let mut preset = Cognito::new(
        env("COGNITO_USER_POOL_ID")?,
        list(&env("COGNITO_CLIENT_IDS")?),
    );
    if let Some(url) = optional("KEY_URL") {
        preset = preset.key_url(url);
    }
    Ok(preset.build()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    run("cognito", verifier()).await
}
