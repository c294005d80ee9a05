//! `tollgate token`: mint a development token from a key file, a shared secret, or a demo
//! issuer's `/token` endpoint. Prints the token only, so `$(tollgate token ...)` works.

use std::path::PathBuf;

use clap::{ArgGroup, Args};
use serde_json::{Map, Value, json};
use tollgate::core::Algorithm;
use tollgate::testing::SigningKey;

use crate::Failure;
use crate::keys::{parse_algorithm, with_default_kid};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("signer").required(true).args(["key", "secret", "issuer"])))]
pub(crate) struct TokenArgs {
    /// Sign with this private key (PKCS#8 PEM, e.g. from `tollgate keys`).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Sign with this shared secret (HS256; at least 32 bytes).
    #[arg(long, value_name = "SECRET")]
    secret: Option<String>,
    /// Ask this demo issuer (`tollgate demo` prints its URL) to mint the token.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Algorithm (default: from the key, RS256 for RSA keys; HS256 with --secret; ES256 from
    /// an issuer).
    #[arg(long, value_parser = parse_algorithm)]
    alg: Option<Algorithm>,
    /// `iss` (not with --issuer, which sets its own).
    #[arg(long)]
    iss: Option<String>,
    /// `aud`; repeat for several.
    #[arg(long)]
    aud: Vec<String>,
    /// `sub` (default dev-user).
    #[arg(long)]
    sub: Option<String>,
    /// `roles`, comma-separated: --roles admin,editor.
    #[arg(long, value_name = "A,B")]
    roles: Option<String>,
    /// `scope`, space- or comma-separated: --scope "read write".
    #[arg(long, value_name = "SCOPES")]
    scope: Option<String>,
    /// Lifetime in seconds (`exp` = now + ttl); negative for an expired token.
    #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
    ttl: i64,
    /// Key id in the header (default: the key's RFC 7638 thumbprint, as `tollgate keys` uses).
    #[arg(long)]
    kid: Option<String>,
    /// Any other claim, NAME=JSON (or NAME=text): --claim 'realm_access={"roles":["admin"]}'.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claims: Vec<String>,
}

/// `--roles a,b` as a list.
fn roles(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `--scope "a b"` or `a,b` as the space-separated `scope` value.
fn scope(value: &str) -> String {
    value
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn custom_claim(spec: &str) -> Result<(String, Value), Failure> {
    match spec.split_once('=') {
        Some((name, value)) if !name.is_empty() => {
            let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
            Ok((name.to_owned(), value))
        }
        _ => Err(Failure::config(format!(
            "--claim {spec:?}: expected NAME=VALUE, e.g. --claim tenant=acme"
        ))),
    }
}

/// The claims for a locally signed token.
fn claims(args: &TokenArgs, now: i64) -> Result<Map<String, Value>, Failure> {
    let mut claims = Map::new();
    if let Some(iss) = &args.iss {
        claims.insert("iss".into(), json!(iss));
    }
    claims.insert(
        "sub".into(),
        json!(args.sub.as_deref().unwrap_or("dev-user")),
    );
    match args.aud.as_slice() {
        [] => {}
        [one] => {
            claims.insert("aud".into(), json!(one));
        }
        many => {
            claims.insert("aud".into(), json!(many));
        }
    }
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now.saturating_add(args.ttl)));
    if let Some(value) = &args.roles {
        claims.insert("roles".into(), json!(roles(value)));
    }
    if let Some(value) = &args.scope {
        claims.insert("scope".into(), json!(scope(value)));
    }
    for spec in &args.claims {
        let (name, value) = custom_claim(spec)?;
        claims.insert(name, value);
    }
    Ok(claims)
}

/// Reads a PKCS#8 key; without `alg`, the first algorithm the key suits.
fn load_key(path: &PathBuf, alg: Option<Algorithm>) -> Result<SigningKey, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::config(format!("cannot read {}: {e}", path.display())))?;
    let key = match alg {
        Some(alg) if alg.is_symmetric() => {
            return Err(Failure::config(format!(
                "{alg} signs with a shared secret: use --secret instead of --key"
            )));
        }
        Some(alg) => SigningKey::from_pkcs8(&bytes, alg),
        None => [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
            Algorithm::RS256,
        ]
        .into_iter()
        .map(|alg| SigningKey::from_pkcs8(&bytes, alg))
        .find(Result::is_ok)
        .unwrap_or_else(|| SigningKey::from_pkcs8(&bytes, Algorithm::RS256)),
    };
    key.map_err(|e| Failure::config(format!("{}: {e}", path.display())))
}

pub(crate) fn run(args: TokenArgs) -> Result<(), Failure> {
    let token = if let Some(issuer) = &args.issuer {
        crate::runtime()?.block_on(from_issuer(issuer, &args))?
    } else {
        let key = if let Some(path) = &args.key {
            with_default_kid(load_key(path, args.alg)?, args.kid.clone())
        } else if let Some(secret) = &args.secret {
            if let Some(alg) = args.alg.filter(|alg| *alg != Algorithm::HS256) {
                return Err(Failure::config(format!(
                    "--secret signs HS256 only, not {alg}"
                )));
            }
            let key = SigningKey::hmac(secret.as_bytes())
                .map_err(|e| Failure::config(format!("--secret is {} bytes: {e}", secret.len())))?;
            match &args.kid {
                Some(kid) => key.with_kid(kid.clone()),
                None => key,
            }
        } else {
            return Err(Failure::config(
                "one of --key, --secret or --issuer is required",
            ));
        };
        let claims = claims(&args, crate::time::now())?;
        key.sign(&claims, "JWT")
            .map_err(|e| Failure::runtime(format!("cannot sign: {e}")))?
    };
    println!("{token}");
    Ok(())
}

/// Asks a dev issuer's `/token` endpoint.
async fn from_issuer(issuer: &str, args: &TokenArgs) -> Result<String, Failure> {
    let unsupported = [
        ("--iss", args.iss.is_some()),
        ("--kid", args.kid.is_some()),
        ("--claim", !args.claims.is_empty()),
        ("several --aud", args.aud.len() > 1),
    ];
    if let Some((option, _)) = unsupported.iter().find(|(_, used)| *used) {
        return Err(Failure::config(format!(
            "{option} is not supported with --issuer (the issuer sets it); sign with --key or \
             --secret instead"
        )));
    }
    let base = format!("{}/token", issuer.trim_end_matches('/'));
    let mut url = reqwest::Url::parse(&base)
        .map_err(|e| Failure::config(format!("--issuer {issuer:?}: {e}")))?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(sub) = &args.sub {
            query.append_pair("sub", sub);
        }
        if let Some(value) = &args.roles {
            query.append_pair("roles", &roles(value).join(","));
        }
        if let Some(value) = &args.scope {
            query.append_pair("scope", &scope(value));
        }
        if let Some(aud) = args.aud.first() {
            query.append_pair("aud", aud);
        }
        query.append_pair("ttl", &args.ttl.to_string());
        if let Some(alg) = args.alg {
            query.append_pair("alg", alg.as_str());
        }
    }
    let response = reqwest::get(url.clone())
        .await
        .map_err(|e| Failure::runtime(format!("cannot reach the issuer at {base}: {e}")))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| Failure::runtime(format!("reading the answer of {base}: {e}")))?;
    if !status.is_success() {
        return Err(Failure::runtime(format!(
            "{base} answered {status}: {}",
            body.trim()
        )));
    }
    Ok(body.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_options() {
        assert_eq!(roles("admin, editor,,"), ["admin", "editor"]);
        assert_eq!(scope("read write,admin"), "read write admin");
        assert_eq!(
            custom_claim("realm_access={\"roles\":[\"admin\"]}").unwrap(),
            ("realm_access".into(), json!({"roles": ["admin"]}))
        );
        assert_eq!(
            custom_claim("tenant=acme").unwrap(),
            ("tenant".into(), json!("acme"))
        );
        assert_eq!(custom_claim("n=42").unwrap().1, json!(42));
        assert!(custom_claim("=x").is_err());
        assert!(custom_claim("novalue").is_err());
    }
}
