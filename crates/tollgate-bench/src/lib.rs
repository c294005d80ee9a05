//! Shared pieces of the benchmarks: the fixed keys (`fixtures/keys.json`), the JWK Set every
//! server mode fetches, token minting (valid, forged, expired, unknown-kid), and the
//! signature-only floor that both the HTTP and the in-memory layer benchmark measure.
//!
//! Not published; not a default workspace member. See `run.sh` and `BENCHMARKS.md`.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tollgate::testing::SigningKey;
use tollgate_core::Algorithm;

/// `iss` of every token; checked by every server mode.
pub const ISSUER: &str = "https://issuer.bench.tollgate.invalid";
/// `aud` of every token; checked by every server mode.
pub const AUDIENCE: &str = "tollgate-bench";
/// `exp` of valid tokens: 2100-01-01.
pub const FAR_FUTURE: i64 = 4_102_444_800;
/// `exp` of expired tokens: 2001-09-09.
pub const LONG_AGO: i64 = 1_000_000_000;

/// The claims `/me` reads (every mode deserializes the same type).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeClaims {
    /// The subject.
    pub sub: String,
}

/// The keys file: PKCS#8 PEM private keys and an ASCII HMAC secret (ASCII because
/// `jwt-authorizer` takes the secret as `&str`).
#[derive(Debug, Serialize, Deserialize)]
pub struct KeysFile {
    /// RSA 2048, for RS256.
    pub rsa: String,
    /// EC P-256, for ES256.
    pub ec: String,
    /// Ed25519, for EdDSA.
    pub ed: String,
    /// HS256 secret.
    pub hmac: String,
}

/// Where the committed keys live.
pub fn keys_path() -> PathBuf {
    std::env::var_os("TOLLGATE_BENCH_KEYS").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keys.json")),
        PathBuf::from,
    )
}

/// The benchmark's keys.
pub struct Keys {
    /// The file's contents.
    pub file: KeysFile,
    /// RS256 key, kid `rsa-1`.
    pub rsa: SigningKey,
    /// ES256 key, kid `ec-1`.
    pub ec: SigningKey,
    /// EdDSA key, kid `ed-1`.
    pub ed: SigningKey,
    /// HS256 secret, kid `hmac`.
    pub hmac: SigningKey,
}

impl Keys {
    /// Reads [`keys_path`].
    pub fn load() -> Keys {
        let path = keys_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run `bench-tokens --generate-keys`)",
                path.display()
            )
        });
        let file: KeysFile = serde_json::from_str(&text).expect("keys file");
        let rsa = SigningKey::from_pkcs8(file.rsa.as_bytes(), Algorithm::RS256)
            .unwrap()
            .with_kid("rsa-1");
        let ec = SigningKey::from_pkcs8(file.ec.as_bytes(), Algorithm::ES256)
            .unwrap()
            .with_kid("ec-1");
        let ed = SigningKey::from_pkcs8(file.ed.as_bytes(), Algorithm::EdDSA)
            .unwrap()
            .with_kid("ed-1");
        let hmac = SigningKey::hmac(file.hmac.as_bytes()).unwrap();
        Keys {
            file,
            rsa,
            ec,
            ed,
            hmac,
        }
    }

    /// Fresh keys (written once to `fixtures/keys.json`).
    pub fn generate() -> KeysFile {
        let pem = |alg| SigningKey::generate(alg).unwrap().to_pkcs8_pem().unwrap();
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).unwrap();
        KeysFile {
            rsa: pem(Algorithm::RS256),
            ec: pem(Algorithm::ES256),
            ed: pem(Algorithm::EdDSA),
            // 43 ASCII characters, 256 bits of entropy.
            hmac: URL_SAFE_NO_PAD.encode(secret),
        }
    }

    /// The signing key for `alg` (RS256, ES256, EdDSA or HS256).
    pub fn for_alg(&self, alg: Algorithm) -> &SigningKey {
        match alg {
            Algorithm::RS256 => &self.rsa,
            Algorithm::ES256 => &self.ec,
            Algorithm::EdDSA => &self.ed,
            Algorithm::HS256 => &self.hmac,
            other => panic!("the benchmark has no key for {other}"),
        }
    }

    /// The public JWK Set every mode reads (all three asymmetric keys).
    pub fn jwks(&self) -> Value {
        json!({"keys": [
            self.rsa.public_jwk().unwrap(),
            self.ec.public_jwk().unwrap(),
            self.ed.public_jwk().unwrap(),
        ]})
    }
}

/// Parses `RS256`, `ES256`, `EdDSA` or `HS256`.
pub fn parse_alg(name: &str) -> Algorithm {
    match Algorithm::from_name(name) {
        Some(alg @ (Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA | Algorithm::HS256)) => {
            alg
        }
        _ => panic!("unsupported --alg {name}: RS256, ES256, EdDSA or HS256"),
    }
}

/// What kind of token to mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Valid, `exp` in 2100.
    Valid,
    /// A valid header and payload with random signature bytes of the right length.
    Forged,
    /// Correctly signed, `exp` in 2001.
    Expired,
    /// A `kid` the key set does not have (distinct per token), random signature bytes.
    UnknownKid,
}

impl Kind {
    /// Parses `valid`, `forged`, `expired` or `unknown-kid`.
    pub fn parse(name: &str) -> Kind {
        match name {
            "valid" => Kind::Valid,
            "forged" => Kind::Forged,
            "expired" => Kind::Expired,
            "unknown-kid" => Kind::UnknownKid,
            _ => panic!("unknown --kind {name}: valid, forged, expired, unknown-kid"),
        }
    }
}

fn claims(index: usize, exp: i64, nonce: &str) -> Map<String, Value> {
    let iat = if exp == LONG_AGO {
        LONG_AGO - 3600
    } else {
        1_700_000_000
    };
    let Value::Object(map) = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": format!("user-{index}"),
        "iat": iat,
        "exp": exp,
        "jti": format!("{nonce}-{index}"),
        "scope": "read write",
        "client_id": "bench-client",
    }) else {
        unreachable!()
    };
    map
}

fn random_signature(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Mints token number `index` of a pool (`nonce` makes pools from different runs distinct).
pub fn mint(keys: &Keys, alg: Algorithm, kind: Kind, index: usize, nonce: &str) -> String {
    let key = keys.for_alg(alg);
    match kind {
        Kind::Valid => key.sign(&claims(index, FAR_FUTURE, nonce), "JWT").unwrap(),
        Kind::Expired => key.sign(&claims(index, LONG_AGO, nonce), "JWT").unwrap(),
        Kind::Forged => unsigned(alg, key.kid(), index, nonce),
        Kind::UnknownKid => unsigned(alg, &format!("unknown-{nonce}-{index}"), index, nonce),
    }
}

/// A valid-looking token with `kid` and random signature bytes of the right length.
fn unsigned(alg: Algorithm, kid: &str, index: usize, nonce: &str) -> String {
    let header = json!({"alg": alg.as_str(), "kid": kid, "typ": "JWT"});
    let payload = Value::Object(claims(index, FAR_FUTURE, nonce));
    let len = match alg {
        Algorithm::RS256 => 256,
        Algorithm::ES256 | Algorithm::EdDSA => 64,
        _ => 32,
    };
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        random_signature(len)
    )
}

/// The physical floor: `GET /me` behind a middleware that does nothing but the RS256 signature
/// check of the bearer token (split at the last `.`, base64url-decode the signature, verify with
/// the RSA key of `pkcs8_pem`, parsed once by aws-lc-rs): no header, no claims, no policy, no
/// cache. What "no-auth + the bare signature check" costs.
pub fn sig_only_router(pkcs8_pem: &str) -> axum::Router {
    use std::sync::Arc;

    use aws_lc_rs::signature::{KeyPair, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair};
    use axum::extract::{Request, State};
    use axum::http::{StatusCode, header};
    use axum::middleware::{Next, from_fn_with_state};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;

    let der = base64::engine::general_purpose::STANDARD
        .decode(
            pkcs8_pem
                .lines()
                .filter(|line| !line.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    let pair = RsaKeyPair::from_pkcs8(&der).unwrap();
    let key = Arc::new(
        ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref()).unwrap(),
    );
    async fn check(
        State(key): State<Arc<ParsedPublicKey>>,
        request: Request,
        next: Next,
    ) -> Response {
        let verified = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| token.rsplit_once('.'))
            .and_then(|(input, signature)| {
                let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
                Some(key.verify_sig(input.as_bytes(), &signature).is_ok())
            })
            .unwrap_or(false);
        if !verified {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        next.run(request).await
    }
    axum::Router::new()
        .route(
            "/me",
            get(|| async { axum::Json(json!({"sub": "anonymous"})) }),
        )
        .route_layer(from_fn_with_state(key, check))
}
