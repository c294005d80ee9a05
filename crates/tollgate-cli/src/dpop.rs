//! DPoP (RFC 9449) for the token tools: the client key, proofs, `ath` and `htu`.
//!
//! `tollgate token --dpop` binds a dev token to a key (`cnf.jkt`) and prints a proof with it;
//! `tollgate proof` mints further proofs with the same key (each proof's `jti` is single-use).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use serde_json::{Map, Value, json};
use tollgate::core::Algorithm;
use tollgate::core::config::DPOP_PROOF_ALGORITHMS;
use tollgate::testing::SigningKey;

use crate::Failure;
use crate::keys::thumbprint;

/// Where `serve` listens by default, for a proof's default `htu`.
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8080/me";

/// The members of a public JWK that identify the key (RFC 7638), for the proof header: no
/// `kid`, `alg` or `use` (the proof's `alg` says which algorithm; the key is sent in full).
fn bare_public_jwk(key: &SigningKey) -> Option<Value> {
    let jwk = key.public_jwk()?;
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["kty", "n", "e"],
        "EC" => &["kty", "crv", "x", "y"],
        "OKP" => &["kty", "crv", "x"],
        _ => return None,
    };
    let mut bare = Map::new();
    for member in members {
        bare.insert((*member).to_owned(), jwk.get(*member)?.clone());
    }
    Some(Value::Object(bare))
}

/// A DPoP client key with its thumbprint.
pub(crate) struct ClientKey {
    key: SigningKey,
    jwk: Value,
    jkt: String,
}

impl ClientKey {
    /// Reads `path` (PKCS#8 PEM: EC P-256, RSA or Ed25519), or, when it does not exist yet,
    /// generates a P-256 key and writes it there (mode 0600), so later proofs can use it; no path:
    /// a fresh P-256 key that is not kept.
    pub(crate) fn load_or_create(path: Option<&Path>) -> Result<ClientKey, Failure> {
        let key = match path {
            Some(path) if path.exists() => {
                let key = crate::keys::load_key(&path.to_path_buf(), None)?;
                if !DPOP_PROOF_ALGORITHMS.contains(&key.algorithm()) {
                    return Err(Failure::config(format!(
                        "{}: a {} key; DPoP proofs are signed with {} (an EC P-256, RSA or \
                         Ed25519 key)",
                        path.display(),
                        key.algorithm(),
                        algorithm_names()
                    )));
                }
                key
            }
            Some(path) => {
                let key = generate()?;
                let pem = key
                    .to_pkcs8_pem()
                    .ok_or_else(|| Failure::runtime("cannot export the generated DPoP key"))?;
                crate::keys::write_private(&path.to_path_buf(), &pem, false).map_err(|e| {
                    Failure::runtime(format!("cannot write {}: {e}", path.display()))
                })?;
                eprintln!(
                    "new DPoP key (ES256) written to {} (PKCS#8 PEM, keep it secret)",
                    path.display()
                );
                key
            }
            None => generate()?,
        };
        let jwk = bare_public_jwk(&key)
            .ok_or_else(|| Failure::runtime("cannot export the DPoP public key"))?;
        let jkt = thumbprint(&jwk)
            .ok_or_else(|| Failure::runtime("cannot compute the DPoP key's thumbprint"))?;
        Ok(ClientKey { key, jwk, jkt })
    }

    /// The RFC 7638 thumbprint, the token's `cnf.jkt`.
    pub(crate) fn jkt(&self) -> &str {
        &self.jkt
    }

    /// A proof for `method` and `htu` (already without query and fragment), presenting
    /// `token` (`ath`) and echoing `nonce` when given; `iat` is `now`, `jti` random.
    pub(crate) fn proof(
        &self,
        method: &str,
        htu: &str,
        token: Option<&str>,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<String, Failure> {
        let header = json!({
            "typ": "dpop+jwt",
            "alg": self.key.algorithm().as_str(),
            "jwk": self.jwk,
        });
        let mut claims = Map::new();
        claims.insert("jti".into(), json!(jti()?));
        claims.insert("htm".into(), json!(method));
        claims.insert("htu".into(), json!(htu));
        claims.insert("iat".into(), json!(now));
        if let Some(token) = token {
            claims.insert("ath".into(), json!(ath(token)));
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        self.key
            .sign_raw(&header.to_string(), &Value::Object(claims).to_string())
            .map_err(|e| Failure::runtime(format!("cannot sign the DPoP proof: {e}")))
    }
}

fn generate() -> Result<SigningKey, Failure> {
    SigningKey::generate(Algorithm::ES256)
        .map_err(|e| Failure::runtime(format!("cannot generate a DPoP key: {e}")))
}

fn algorithm_names() -> String {
    DPOP_PROOF_ALGORITHMS.map(Algorithm::as_str).join(", ")
}

/// 128 random bits, base64url: unique per proof.
fn jti() -> Result<String, Failure> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| Failure::runtime("no randomness for the proof's jti"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// `ath`: base64url(SHA-256(the access token)).
pub(crate) fn ath(token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// `--method`: an HTTP method token (RFC 9110), kept as given (`htm` is case-sensitive).
pub(crate) fn method(value: &str) -> Result<String, Failure> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if value.is_empty() || !value.chars().all(token) {
        return Err(Failure::config(format!(
            "--method {value:?} is not an HTTP method (e.g. GET or POST)"
        )));
    }
    Ok(value.to_owned())
}

/// `--url`: an http(s) URL; the proof's `htu` is it without query and fragment (RFC 9449 4.2).
pub(crate) fn htu(value: &str) -> Result<reqwest::Url, Failure> {
    let mut url =
        reqwest::Url::parse(value).map_err(|e| Failure::config(format!("--url {value:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(Failure::config(format!(
            "--url {value:?} is not an http or https URL"
        )));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// `tollgate proof`: one more proof with a kept key.
#[derive(Debug, Args)]
pub(crate) struct ProofArgs {
    /// The DPoP key (PKCS#8 PEM: EC P-256, RSA or Ed25519); created (P-256) if it does not
    /// exist.
    #[arg(long, value_name = "FILE")]
    dpop_key: PathBuf,
    /// The access token the request presents (the proof carries its hash, `ath`); `-` reads it
    /// from stdin.
    #[arg(long)]
    token: Option<String>,
    /// The request's method (`htm`).
    #[arg(long, default_value = "GET")]
    method: String,
    /// The request's URL (`htu`: without query and fragment).
    #[arg(long, default_value = DEFAULT_URL)]
    url: String,
    /// A server nonce to echo (from a `DPoP-Nonce` answer header).
    #[arg(long)]
    nonce: Option<String>,
}

pub(crate) fn run_proof(args: ProofArgs) -> Result<(), Failure> {
    let method = method(&args.method)?;
    let htu = htu(&args.url)?;
    let token = match args.token.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::config(format!("cannot read the token from stdin: {e}")))?;
            Some(text.trim().to_owned())
        }
        Some(token) => Some(token.trim().to_owned()),
        None => None,
    };
    let key = ClientKey::load_or_create(Some(&args.dpop_key))?;
    let proof = key.proof(
        &method,
        htu.as_str(),
        token.as_deref(),
        args.nonce.as_deref(),
        crate::time::now(),
    )?;
    println!("{proof}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(segment: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn proof_shape() {
        let key = ClientKey::load_or_create(None).unwrap();
        let proof = key
            .proof(
                "GET",
                "http://127.0.0.1:8080/me",
                Some("a.b.c"),
                Some("n-1"),
                1_800_000_000,
            )
            .unwrap();
        let segments: Vec<&str> = proof.split('.').collect();
        assert_eq!(segments.len(), 3);
        let header = decode(segments[0]);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        let jwk = header["jwk"].as_object().unwrap();
        let mut members: Vec<&str> = jwk.keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(members, ["crv", "kty", "x", "y"]);
        assert_eq!(thumbprint(&header["jwk"]).as_deref(), Some(key.jkt()));
        let claims = decode(segments[1]);
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "http://127.0.0.1:8080/me");
        assert_eq!(claims["iat"], 1_800_000_000);
        assert_eq!(claims["nonce"], "n-1");
        // SHA-256("a.b.c"), base64url: computed independently with
        // `printf a.b.c | openssl dgst -sha256 -binary | basenc --base64url`.
        assert_eq!(claims["ath"], "hF4wRIgJ4ryJWOsCW_x5UjXROwd6U9DDq70jhRcNybg");
        assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
        let again = key.proof("GET", "http://x/", None, None, 0).unwrap();
        assert_ne!(
            decode(again.split('.').nth(1).unwrap())["jti"],
            claims["jti"]
        );
        assert!(
            decode(again.split('.').nth(1).unwrap())
                .get("ath")
                .is_none()
        );
    }

    #[test]
    fn method_and_url() {
        assert_eq!(method("POST").unwrap(), "POST");
        assert!(method("").is_err());
        assert!(method("GET /").is_err());
        assert_eq!(
            htu("http://127.0.0.1:8080/me?x=1#f").unwrap().as_str(),
            "http://127.0.0.1:8080/me"
        );
        assert_eq!(
            htu("HTTPS://API.example:443").unwrap().as_str(),
            "https://api.example/"
        );
        assert!(htu("ftp://x/").is_err());
        assert!(htu("not a url").is_err());
    }
}
