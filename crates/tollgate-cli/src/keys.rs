//! `tollgate keys`: generate a signing key pair; the private key goes to a PEM file, the public
//! JWK Set to stdout.

use std::io::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use serde_json::{Map, Value, json};
use tollgate::core::Algorithm;
use tollgate::testing::SigningKey;

use crate::Failure;

#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    /// Algorithm: RS256..RS512, PS256..PS512, ES256, ES384 or EdDSA.
    #[arg(long, default_value = "ES256", value_parser = parse_algorithm)]
    alg: Algorithm,
    /// Key id (default: the RFC 7638 thumbprint of the public key, which `tollgate token --key`
    /// computes too).
    #[arg(long)]
    kid: Option<String>,
    /// Where to write the private key, PKCS#8 PEM (default `tollgate-<kid>.pem`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long)]
    force: bool,
}

pub(crate) fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(name).ok_or_else(|| {
        format!(
            "unknown algorithm {name:?} (known, case-sensitive: {})",
            Algorithm::ALL.map(Algorithm::as_str).join(", ")
        )
    })
}

/// The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public JWK.
pub(crate) fn thumbprint(jwk: &Value) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    // serde_json's map is ordered by key, and these values are plain strings: the serialization
    // is exactly RFC 7638's (sorted members, no whitespace).
    let mut required = Map::new();
    for member in members {
        required.insert((*member).to_owned(), jwk.get(*member)?.clone());
    }
    let canonical = Value::Object(required).to_string();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    Some(URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

/// Reads a PKCS#8 key; without `alg`, the first algorithm the key suits.
pub(crate) fn load_key(path: &PathBuf, alg: Option<Algorithm>) -> Result<SigningKey, Failure> {
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

/// Sets the key id: `kid`, or the key's thumbprint.
pub(crate) fn with_default_kid(key: SigningKey, kid: Option<String>) -> SigningKey {
    match kid {
        Some(kid) => key.with_kid(kid),
        None => match key.public_jwk().as_ref().and_then(thumbprint) {
            Some(thumbprint) => key.with_kid(thumbprint),
            None => key,
        },
    }
}

pub(crate) fn write_private(path: &PathBuf, pem: &str, force: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()
}

pub(crate) fn run(args: KeysArgs) -> Result<(), Failure> {
    if args.alg.is_symmetric() {
        return Err(Failure::config(format!(
            "{} uses a shared secret, not a key pair: generate one with `openssl rand -base64 32` \
             and use `tollgate token --secret`",
            args.alg
        )));
    }
    let key = SigningKey::generate(args.alg)
        .map_err(|e| Failure::runtime(format!("cannot generate a {} key: {e}", args.alg)))?;
    let key = with_default_kid(key, args.kid);
    let (Some(pem), Some(jwk)) = (key.to_pkcs8_pem(), key.public_jwk()) else {
        return Err(Failure::runtime("cannot export the generated key"));
    };
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("tollgate-{}.pem", key.kid())));
    write_private(&out, &pem, args.force).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AlreadyExists {
            " (pass --force to overwrite)"
        } else {
            ""
        };
        Failure::runtime(format!("cannot write {}: {e}{hint}", out.display()))
    })?;
    let jwks = json!({ "keys": [jwk] });
    let text = serde_json::to_string_pretty(&jwks)
        .map_err(|e| Failure::runtime(format!("cannot print the JWK Set: {e}")))?;
    println!("{text}");
    eprintln!(
        "private key ({}, kid {}) written to {} (PKCS#8 PEM, keep it secret); the JWK Set above \
         is the public half.",
        args.alg,
        key.kid(),
        out.display()
    );
    eprintln!(
        "mint a token: tollgate token --key {} --alg {} --sub alice --roles admin",
        out.display(),
        args.alg
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 section 3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(thumbprint(&json!({"kty": "oct", "k": "abc"})), None);
    }

    #[test]
    fn default_kid_is_the_thumbprint() {
        let key = with_default_kid(SigningKey::generate(Algorithm::ES256).unwrap(), None);
        let jwk = key.public_jwk().unwrap();
        assert_eq!(Some(key.kid().to_owned()), thumbprint(&jwk));
        let named = with_default_kid(
            SigningKey::generate(Algorithm::EdDSA).unwrap(),
            Some("k1".into()),
        );
        assert_eq!(named.kid(), "k1");
    }
}
