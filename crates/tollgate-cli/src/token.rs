//! `tollgate token`: mint a development token from a key file, a shared secret, or a demo
//! issuer's `/token` endpoint. Prints the token only, so `$(tollgate token ...)` works; with
//! `--dpop`, the token is bound to a client key (`cnf.jkt`) and a matching DPoP proof follows.

use std::path::PathBuf;

use clap::{ArgGroup, Args, ValueEnum};
use serde_json::{Map, Value, json};
use tollgate::core::Algorithm;
use tollgate::testing::SigningKey;

use crate::Failure;
use crate::keys::{load_key, parse_algorithm, with_default_kid};

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
    /// Bind the token to a DPoP key (`cnf.jkt`, RFC 9449) and print a proof for --method and
    /// --url after it: `curl -H "Authorization: DPoP $TOKEN" -H "DPoP: $PROOF" URL`.
    #[arg(long)]
    dpop: bool,
    /// The DPoP key (PKCS#8 PEM: EC P-256, RSA or Ed25519); created (P-256) if it does not
    /// exist, so `tollgate proof --dpop-key FILE` can mint more proofs. Default: a fresh P-256
    /// key, not kept.
    #[arg(long, value_name = "FILE", requires = "dpop")]
    dpop_key: Option<PathBuf>,
    /// The proof's request method (`htm`).
    #[arg(long, default_value = "GET", requires = "dpop")]
    method: String,
    /// The proof's request URL (`htu`, without query and fragment).
    #[arg(long, default_value = crate::dpop::DEFAULT_URL, requires = "dpop")]
    url: String,
    /// A server nonce for the proof (from a `DPoP-Nonce` answer header).
    #[arg(long, requires = "dpop")]
    nonce: Option<String>,
    /// Output: `lines` (the token; with --dpop the proof on a second line), `env`
    /// (`TOKEN=...`, with --dpop `PROOF=...` and `JKT=...`: `eval "$(tollgate token ...)"`) or
    /// `json`.
    #[arg(long, value_enum, default_value_t = Format::Lines)]
    format: Format,
}

/// How `token` prints what it minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Lines,
    Env,
    Json,
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

pub(crate) fn run(args: TokenArgs) -> Result<(), Failure> {
    // Checked before a key file is created or an issuer asked.
    let request = if args.dpop {
        if args.issuer.is_some() {
            return Err(Failure::config(
                "--dpop is not supported with --issuer (the demo issuer does not bind tokens); \
                 sign with --key or --secret instead",
            ));
        }
        if args.claims.iter().any(|c| c.starts_with("cnf=")) {
            return Err(Failure::config(
                "--claim cnf=... conflicts with --dpop, which sets cnf.jkt",
            ));
        }
        let method = crate::dpop::method(&args.method)?;
        let htu = crate::dpop::htu(&args.url)?;
        let key = crate::dpop::ClientKey::load_or_create(args.dpop_key.as_deref())?;
        Some((key, method, htu))
    } else {
        None
    };
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
        let mut claims = claims(&args, crate::time::now())?;
        if let Some((client, _, _)) = &request {
            claims.insert("cnf".into(), json!({ "jkt": client.jkt() }));
        }
        key.sign(&claims, "JWT")
            .map_err(|e| Failure::runtime(format!("cannot sign: {e}")))?
    };
    let dpop = match &request {
        Some((client, method, htu)) => {
            let proof = client.proof(
                method,
                htu.as_str(),
                Some(&token),
                args.nonce.as_deref(),
                crate::time::now(),
            )?;
            Some((
                proof,
                client.jkt().to_owned(),
                method.as_str(),
                htu.as_str(),
            ))
        }
        None => None,
    };
    // Tokens and proofs are base64url and dots: nothing for a shell to quote.
    match (args.format, &dpop) {
        (Format::Lines, None) => println!("{token}"),
        (Format::Lines, Some((proof, _, _, _))) => println!("{token}\n{proof}"),
        (Format::Env, None) => println!("TOKEN={token}"),
        (Format::Env, Some((proof, jkt, _, _))) => {
            println!("TOKEN={token}\nPROOF={proof}\nJKT={jkt}");
        }
        (Format::Json, None) => println!("{}", json!({ "token": token })),
        (Format::Json, Some((proof, jkt, htm, htu))) => println!(
            "{}",
            json!({ "token": token, "proof": proof, "jkt": jkt, "htm": htm, "htu": htu })
        ),
    }
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
