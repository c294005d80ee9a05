//! An API accepting Firebase Authentication ID tokens of one project.
//!
//! ```sh
//! FIREBASE_PROJECT_ID=my-project cargo run -p example-providers --bin firebase
//! curl -H "Authorization: Bearer $ID_TOKEN" localhost:3000/me   # from getIdToken() in your app
//! ```
//!
//! Roles come from the custom claim `roles` (set with the Admin SDK's `setCustomUserClaims`).
//! `KEY_URL` (optional) fetches the keys elsewhere, in Google's x509 certificate-map format.

use std::error::Error;
use std::process::ExitCode;

use example_providers::{env, optional, run};
use tollgate_core::Verifier;
use tollgate_core::providers::firebase::Firebase;

fn verifier() -> Result<Verifier, Box<dyn Error>> {
    let mut preset = Firebase::new(env("FIREBASE_PROJECT_ID")?);
    if let Some(url) = optional("KEY_URL") {
        preset = preset.key_url(url);
    }
    Ok(preset.build()?)
}

#[tokio::main]
async fn main() -> ExitCode {
    run("firebase", verifier()).await
}
