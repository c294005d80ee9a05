//! An API accepting Microsoft Entra ID (Azure AD) access tokens of one tenant, v1 or v2.
//!
//! ```sh
//! ENTRA_TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47 ENTRA_AUDIENCE=api://my-api \
//!     cargo run -p example-providers --bin entra
//! curl -H "Authorization: Bearer $(az account get-access-token --resource api://my-api \
//!     --query accessToken -o tsv)" localhost:3000/me
//! ```
//!
//! `ENTRA_AUDIENCE` is a comma list: the API's client id and/or App ID URI. App roles (`roles`)
//! are roles, `scp` the scopes. `KEY_URL` (optional) fetches the JWKS elsewhere.

use std::error::Error;
use std::process::ExitCode;

use example_providers::{env, list, optional, run};
use tollgate_core::Verifier;
use tollgate_core::providers::entra::EntraId;

fn verifier() -> Result<Verifier, Box<dyn Error>> {
    let mut preset =
        EntraId::single_tenant(env("ENTRA_TENANT_ID")?).audiences(list(&env("ENTRA_AUDIENCE")?));
    if let Some(url) = optional("KEY_URL") {
        preset = preset.key_url(url);
    }
    Ok(preset.build()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    run("entra", verifier()).await
}
