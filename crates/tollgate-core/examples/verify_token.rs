//! Verifies JWTs with Tollgate and explains every rejection.
//!
//! With no arguments: a self-contained demo with a built-in HS256 issuer and five tokens.
//! With arguments: verify your own token:
//!
//! ```text
//! cargo run -p tollgate-core --example verify_token -- <token> \
//!     (--secret <shared secret> | --jwks <file> | --pem <file>) \
//!     [--alg RS256,ES256] [--iss <issuer>] [--aud <audience>]
//! ```
//!
//! Without `--aud`, tokens for any audience are accepted (and a note says so).
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use tollgate_core::{
    Algorithm, CryptoProvider, KeySet, StandardClaims, Validation, VerificationKey, Verifier,
};

const DEMO_SECRET: &[u8] = b"tollgate-demo-secret-do-not-use-in-production!";
const DEMO_TOKENS: [(&str, &str, bool); 5] = [
    (
        "valid token for alice",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2RlbW8udG9sbGdhdGUuZGV2IiwiYXVkIjoiZGVtby1hcGkiLCJzdWIiOiJhbGljZSIsInJvbGVzIjpbInVzZXIiLCJhZG1pbiJdLCJzY29wZSI6InJlYWQ6aXRlbXMgd3JpdGU6aXRlbXMiLCJpYXQiOjE3NjcyMjU2MDAsImV4cCI6NDEwMjQ0NDgwMH0.zL32RWuJzV527yyZzHvNc6K7fWdPOASiR9erjv8wu4U",
        true,
    ),
    (
        "expired token",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2RlbW8udG9sbGdhdGUuZGV2IiwiYXVkIjoiZGVtby1hcGkiLCJzdWIiOiJhbGljZSIsInJvbGVzIjpbInVzZXIiLCJhZG1pbiJdLCJzY29wZSI6InJlYWQ6aXRlbXMgd3JpdGU6aXRlbXMiLCJpYXQiOjE3NjcyMjU2MDAsImV4cCI6MTc2NzIyOTIwMH0.eftARE4Y0dNyNR2y-LItbd7vHV5u6EoU7qgpZxM-oLw",
        false,
    ),
    (
        "token for another API",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2RlbW8udG9sbGdhdGUuZGV2IiwiYXVkIjoiYW5vdGhlci1hcGkiLCJzdWIiOiJhbGljZSIsInJvbGVzIjpbInVzZXIiLCJhZG1pbiJdLCJzY29wZSI6InJlYWQ6aXRlbXMgd3JpdGU6aXRlbXMiLCJpYXQiOjE3NjcyMjU2MDAsImV4cCI6NDEwMjQ0NDgwMH0.LTIy2fGcb7Ey2YQuZW_jb5vB-JpSvA9BujJh5y3H0e0",
        false,
    ),
    (
        "forged: signed with a guessed secret",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2RlbW8udG9sbGdhdGUuZGV2IiwiYXVkIjoiZGVtby1hcGkiLCJzdWIiOiJtYWxsb3J5Iiwicm9sZXMiOlsidXNlciIsImFkbWluIl0sInNjb3BlIjoicmVhZDppdGVtcyB3cml0ZTppdGVtcyIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjo0MTAyNDQ0ODAwfQ.X7POvGcan-dlxIPopTIUncc_nXaR1vVp5v1hlhEQra8",
        false,
    ),
    (
        "unsigned (alg: none)",
        "eyJhbGciOiJub25lIn0.eyJpc3MiOiAiaHR0cHM6Ly9kZW1vLnRvbGxnYXRlLmRldiIsICJhdWQiOiAiZGVtby1hcGkiLCAic3ViIjogImFsaWNlIiwgInJvbGVzIjogWyJ1c2VyIiwgImFkbWluIl0sICJzY29wZSI6ICJyZWFkOml0ZW1zIHdyaXRlOml0ZW1zIiwgImlhdCI6IDE3NjcyMjU2MDAsICJleHAiOiA0MTAyNDQ0ODAwfQ.",
        false,
    ),
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.is_empty() {
        demo().await
    } else {
        verify_one(&args).await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> Result<(), String> {
    let policy = Validation::builder([Algorithm::HS256])
        .issuer("https://demo.tollgate.dev")
        .audience("demo-api")
        .build()
        .map_err(|e| e.to_string())?;
    let key = VerificationKey::hmac(DEMO_SECRET).map_err(|e| e.to_string())?;
    let verifier = Verifier::new(policy, KeySet::from(key), CryptoProvider::default());
    println!("Tollgate demo: issuer https://demo.tollgate.dev, audience demo-api, HS256\n");
    for (label, token, should_pass) in DEMO_TOKENS {
        let outcome = verifier.verify(token).await;
        match &outcome {
            Ok(verified) => {
                // Typed claims are deserialized once per token and shared (an `Arc`).
                let claims = verified
                    .claims::<StandardClaims>()
                    .map_err(|e| e.to_string())?;
                let roles = claims.strings_at(&"roles".parse().map_err(|_| "bad path")?);
                println!(
                    "ACCEPT  {label}: sub={:?} roles={roles:?} scopes={:?}",
                    claims.registered.sub.as_deref().unwrap_or("-"),
                    claims.scopes()
                );
            }
            Err(err) => {
                println!("REJECT  {label}: {err}");
                println!(
                    "        client sees: {} error=\"{}\", \"{}\"",
                    err.code().http_status(),
                    err.code(),
                    err.public_description()
                );
            }
        }
        if outcome.is_ok() != should_pass {
            return Err(format!("unexpected outcome for {label}"));
        }
    }
    Ok(())
}

async fn verify_one(args: &[String]) -> Result<(), String> {
    let token = &args[0];
    let mut keys = None;
    let mut algorithms = vec![Algorithm::RS256];
    let mut builder_issuers = Vec::new();
    let mut builder_audiences = Vec::new();
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--secret" => {
                keys = Some(KeySet::from(
                    VerificationKey::hmac(value.as_bytes()).map_err(|e| e.to_string())?,
                ));
                algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
            }
            "--jwks" => keys = Some(KeySet::from_jwks_file(value).map_err(|e| e.to_string())?),
            "--pem" => {
                keys = Some(KeySet::from(
                    VerificationKey::from_file(value).map_err(|e| e.to_string())?,
                ))
            }
            "--alg" => {
                algorithms = value
                    .split(',')
                    .map(|a| a.trim().parse())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("{e}"))?;
            }
            "--iss" => builder_issuers.push(value.clone()),
            "--aud" => builder_audiences.push(value.clone()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let keys = keys.ok_or("give --secret, --jwks or --pem")?;
    let mut policy = Validation::builder(algorithms).issuers(builder_issuers);
    if builder_audiences.is_empty() {
        // No --aud: an explicit decision to accept any audience (say so, it is not the default).
        eprintln!("note: no --aud given: tokens for any audience are accepted");
        policy = policy.any_audience();
    } else {
        policy = policy.audiences(builder_audiences);
    }
    let policy = policy.build().map_err(|e| e.to_string())?;
    let verifier = Verifier::new(policy, keys, CryptoProvider::default());
    match verifier.verify(token).await {
        Ok(verified) => {
            println!("valid: header {:?}", verified.header());
            println!(
                "{}",
                serde_json::to_string_pretty(verified.claims_json()).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Err(err) => Err(format!(
            "rejected: {err} ({} {})",
            err.code().http_status(),
            err.code()
        )),
    }
}
