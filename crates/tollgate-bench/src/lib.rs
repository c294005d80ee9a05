//! Shared pieces of the benchmarks: the fixed keys (`fixtures/keys.json`), the JWK Sets the
//! server modes fetch (one per issuer), token minting (valid, forged, expired, unknown-kid), the
//! Zipf request sequence of the `zipf` scenario, and the signature-only floor that both the HTTP
//! and the in-memory layer benchmark measure.
//!
//! Not published; not a default workspace member. See `run.sh` and `BENCHMARKS.md`.

pub mod api;

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tollgate::testing::SigningKey;
use tollgate_core::{Algorithm, Validation};

/// `iss` of every token of the first issuer (all single-issuer scenarios); checked by every
/// server mode.
pub const ISSUER: &str = "https://issuer.bench.tollgate.invalid";
/// `iss` of the second issuer's tokens (the two-issuer scenarios `multi-hits` and `zipf`), signed
/// with its own RSA key (kid `rsa-2`) published in its own JWK Set.
pub const ISSUER2: &str = "https://issuer2.bench.tollgate.invalid";
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
    /// RSA 2048, for the second issuer's RS256 tokens.
    pub rsa2: String,
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
    /// The second issuer's RS256 key, kid `rsa-2`.
    pub rsa2: SigningKey,
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
        let rsa2 = SigningKey::from_pkcs8(file.rsa2.as_bytes(), Algorithm::RS256)
            .unwrap()
            .with_kid("rsa-2");
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
            rsa2,
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
            rsa2: pem(Algorithm::RS256),
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

    /// The public JWK Set every mode reads (all three asymmetric keys of the first issuer).
    pub fn jwks(&self) -> Value {
        json!({"keys": [
            self.rsa.public_jwk().unwrap(),
            self.ec.public_jwk().unwrap(),
            self.ed.public_jwk().unwrap(),
        ]})
    }

    /// The second issuer's public JWK Set (its RSA key only).
    pub fn jwks2(&self) -> Value {
        json!({"keys": [self.rsa2.public_jwk().unwrap()]})
    }

    /// The key `issuer` signs `alg` tokens with (the second issuer has only RS256).
    pub fn of(&self, issuer: Issuer, alg: Algorithm) -> &SigningKey {
        match (issuer, alg) {
            (Issuer::First, alg) => self.for_alg(alg),
            (Issuer::Second, Algorithm::RS256) => &self.rsa2,
            (Issuer::Second, other) => panic!("the second issuer has no {other} key"),
        }
    }
}

/// One of the benchmark's two issuers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    /// [`ISSUER`]: every key of `fixtures/keys.json` but `rsa2`.
    First,
    /// [`ISSUER2`]: `rsa2` (kid `rsa-2`).
    Second,
}

impl Issuer {
    /// The `iss` of its tokens.
    pub fn iss(self) -> &'static str {
        match self {
            Issuer::First => ISSUER,
            Issuer::Second => ISSUER2,
        }
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

fn claims(iss: &str, index: usize, exp: i64, nonce: &str) -> Map<String, Value> {
    let iat = if exp == LONG_AGO {
        LONG_AGO - 3600
    } else {
        1_700_000_000
    };
    let Value::Object(map) = json!({
        "iss": iss,
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

/// Mints token number `index` of a pool of the first issuer (`nonce` makes pools from different
/// runs distinct).
pub fn mint(keys: &Keys, alg: Algorithm, kind: Kind, index: usize, nonce: &str) -> String {
    mint_as(keys, Issuer::First, alg, kind, index, nonce)
}

/// Mints token number `index` of a pool of `issuer`.
pub fn mint_as(
    keys: &Keys,
    issuer: Issuer,
    alg: Algorithm,
    kind: Kind,
    index: usize,
    nonce: &str,
) -> String {
    let key = keys.of(issuer, alg);
    let iss = issuer.iss();
    match kind {
        Kind::Valid => key
            .sign(&claims(iss, index, FAR_FUTURE, nonce), "JWT")
            .unwrap(),
        Kind::Expired => key
            .sign(&claims(iss, index, LONG_AGO, nonce), "JWT")
            .unwrap(),
        Kind::Forged => unsigned(iss, alg, key.kid(), index, nonce),
        Kind::UnknownKid => unsigned(iss, alg, &format!("unknown-{nonce}-{index}"), index, nonce),
    }
}

/// A valid-looking token with `kid` and random signature bytes of the right length.
fn unsigned(iss: &str, alg: Algorithm, kid: &str, index: usize, nonce: &str) -> String {
    let header = json!({"alg": alg.as_str(), "kid": kid, "typ": "JWT"});
    let payload = Value::Object(claims(iss, index, FAR_FUTURE, nonce));
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

// ---- the `zipf` scenario: many users reusing their tokens -------------------------------------

/// SplitMix64, a small deterministic generator: the same seed gives every server and every run
/// the same request sequence.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (multiply-shift: no modulo bias worth the name for `n` far below 2^64).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Ranks `0..n` drawn with probability proportional to `1 / (rank + 1)^s`.
#[derive(Debug, Clone)]
pub struct Zipf {
    /// Cumulative probabilities; the last is 1.
    cdf: Vec<f64>,
}

impl Zipf {
    /// The Zipf distribution over `n` ranks with exponent `s`.
    pub fn new(n: usize, s: f64) -> Zipf {
        assert!(n > 0, "Zipf over no ranks");
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let mut cdf: Vec<f64> = weights
            .iter()
            .map(|w| {
                sum += w / total;
                sum
            })
            .collect();
        // Rounding may leave the last sum a hair below 1; a draw must never fall past it.
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Zipf { cdf }
    }

    /// The probability of `rank`.
    pub fn probability(&self, rank: usize) -> f64 {
        match rank {
            0 => self.cdf[0],
            r => self.cdf[r] - self.cdf[r - 1],
        }
    }

    /// One rank (inverse CDF, binary search).
    pub fn sample(&self, rng: &mut SplitMix64) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// One token of a workload's token file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSpec {
    /// Who signs it (or whose key it pretends to be signed with).
    pub issuer: Issuer,
    /// Valid or one of the refusals.
    pub kind: Kind,
    /// Its number (`sub` is `user-<index>`).
    pub index: usize,
}

/// The `zipf` scenario: `users` users, each with its own valid token, half of them at each
/// issuer; requests pick a user with Zipf-distributed popularity (so each user reuses their
/// token, the popular ones often), and `refused_percent` of the requests carry instead a token
/// that must be refused: expired (genuine signature), forged signature or unknown `kid`, in turn,
/// from a pool of `refusal_tokens`, at both issuers.
#[derive(Debug, Clone)]
pub struct ZipfWorkload {
    /// Distinct users (valid tokens).
    pub users: usize,
    /// The Zipf exponent.
    pub s: f64,
    /// Length of the request sequence (wrk walks it, wrapping around).
    pub requests: usize,
    /// Share of the requests that carry a token to refuse, in percent.
    pub refused_percent: f64,
    /// Distinct tokens to refuse (a third of each kind).
    pub refusal_tokens: usize,
    /// Seed of the sequence (and of which users are the popular ones).
    pub seed: u64,
}

impl Default for ZipfWorkload {
    fn default() -> Self {
        ZipfWorkload {
            users: 10_000,
            s: 1.1,
            requests: 1_000_000,
            refused_percent: 5.0,
            refusal_tokens: 1_500,
            seed: 13,
        }
    }
}

const REFUSALS: [Kind; 3] = [Kind::Expired, Kind::Forged, Kind::UnknownKid];

impl ZipfWorkload {
    /// The distinct tokens, in token-file order: one valid token per user (even users at the
    /// first issuer, odd ones at the second), then the refusal tokens (expired, forged, unknown
    /// `kid` in turn; each triple at the other issuer than the one before).
    pub fn tokens(&self) -> Vec<TokenSpec> {
        let users = (0..self.users).map(|index| TokenSpec {
            issuer: if index % 2 == 0 {
                Issuer::First
            } else {
                Issuer::Second
            },
            kind: Kind::Valid,
            index,
        });
        let refusals = (0..self.refusal_tokens).map(|k| TokenSpec {
            issuer: if (k / 3) % 2 == 0 {
                Issuer::First
            } else {
                Issuer::Second
            },
            kind: REFUSALS[k % 3],
            index: self.users + k,
        });
        users.chain(refusals).collect()
    }

    /// The request sequence: indices into [`ZipfWorkload::tokens`]. Which users are popular is
    /// a seeded random permutation, so the popular ones are spread over both issuers.
    pub fn sequence(&self) -> Vec<u32> {
        let mut rng = SplitMix64::new(self.seed);
        let zipf = Zipf::new(self.users, self.s);
        let mut by_rank: Vec<u32> = (0..self.users as u32).collect();
        for i in (1..by_rank.len()).rev() {
            by_rank.swap(i, rng.below(i + 1));
        }
        let mut refused = 0usize;
        (0..self.requests)
            .map(|_| {
                if self.refusal_tokens > 0 && rng.next_f64() * 100.0 < self.refused_percent {
                    refused += 1;
                    (self.users + (refused - 1) % self.refusal_tokens) as u32
                } else {
                    by_rank[zipf.sample(&mut rng)]
                }
            })
            .collect()
    }
}

/// The in-memory benchmarks' token (`benches/layer.rs`, `examples/instructions.rs`): RS256 or
/// whatever `key` signs, issuer `iss`, [`AUDIENCE`], `sub` `user-<n>`, `jti` `<n>`, expiring at
/// `exp`.
pub fn in_memory_token(key: &SigningKey, iss: &str, n: u64, exp: u64) -> String {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(iss));
    claims.insert("aud".into(), json!(AUDIENCE));
    claims.insert("sub".into(), json!(format!("user-{n}")));
    claims.insert("jti".into(), json!(n.to_string()));
    claims.insert("exp".into(), json!(exp));
    key.sign(&claims, "JWT").expect("sign a benchmark token")
}

/// The in-memory benchmarks' policy: RS256, issuer `issuer`, [`AUDIENCE`].
pub fn rs256_policy(issuer: &str) -> Validation {
    Validation::builder([Algorithm::RS256])
        .issuer(issuer)
        .audience(AUDIENCE)
        .build()
        .expect("benchmark policy")
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

/// `router` as `axum::serve` runs it: its handlers turned into routes, layers applied, once
/// (`Router::with_state`, which the server calls per connection). The in-memory benchmarks call
/// a router through `oneshot`; without this step axum rebuilds every handler's route and applies
/// every `route_layer` again on each request, a cost no served app pays.
pub fn served(router: axum::Router) -> axum::Router {
    router.with_state(())
}

/// The hand-off floor: `GET /me` behind a `route_layer` that reads nothing and hands the
/// handler a fixed identity through the request extensions, which the handler takes as its
/// claims type: what any authentication layer for axum costs before it looks at a token (the
/// layered route's per-request service clone, one extension inserted and extracted, one claims
/// value cloned), measured to tell that apart from what Tollgate's own cache hit costs.
pub fn handoff_router() -> axum::Router {
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use axum::extract::Extension;
    use axum::routing::get;

    #[derive(Clone)]
    struct Handoff<S> {
        inner: S,
        identity: Arc<MeClaims>,
    }
    impl<S, B> tower::Service<axum::http::Request<B>> for Handoff<S>
    where
        S: tower::Service<axum::http::Request<B>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = S::Future;
        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.inner.poll_ready(cx)
        }
        fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
            request.extensions_mut().insert(self.identity.clone());
            self.inner.call(request)
        }
    }
    async fn me(Extension(claims): Extension<Arc<MeClaims>>) -> axum::Json<Value> {
        let MeClaims { sub } = MeClaims::clone(&claims);
        axum::Json(json!({ "sub": sub }))
    }
    let identity = Arc::new(MeClaims {
        sub: "user-0".into(),
    });
    axum::Router::new()
        .route("/me", get(me))
        .route_layer(tower::layer::layer_fn(move |inner| Handoff {
            inner,
            identity: identity.clone(),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_probabilities_follow_the_power_law() {
        let zipf = Zipf::new(10_000, 1.1);
        let total: f64 = (0..10_000).map(|r| zipf.probability(r)).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        let ratio = zipf.probability(0) / zipf.probability(9);
        assert!((ratio - 10f64.powf(1.1)).abs() < 1e-6, "{ratio}");
        let mut rng = SplitMix64::new(1);
        let draws = 200_000;
        let top = (0..draws).filter(|_| zipf.sample(&mut rng) == 0).count();
        let share = top as f64 / draws as f64;
        assert!(
            (share - zipf.probability(0)).abs() < 0.005,
            "rank 0 drawn {share}, expected {}",
            zipf.probability(0)
        );
    }

    #[test]
    fn zipf_workload_refuses_five_percent_of_both_issuers_tokens() {
        let workload = ZipfWorkload {
            requests: 200_000,
            ..ZipfWorkload::default()
        };
        let tokens = workload.tokens();
        assert_eq!(tokens.len(), 11_500);
        let sequence = workload.sequence();
        assert_eq!(sequence.len(), 200_000);
        assert_eq!(
            sequence,
            workload.sequence(),
            "the sequence is reproducible"
        );
        let refused: Vec<TokenSpec> = sequence
            .iter()
            .map(|&i| tokens[i as usize])
            .filter(|t| t.kind != Kind::Valid)
            .collect();
        let share = refused.len() as f64 / sequence.len() as f64;
        assert!((share - 0.05).abs() < 0.003, "refused share {share}");
        for kind in REFUSALS {
            for issuer in [Issuer::First, Issuer::Second] {
                let n = refused
                    .iter()
                    .filter(|t| t.kind == kind && t.issuer == issuer)
                    .count();
                assert!(n > refused.len() / 8, "{kind:?} at {issuer:?}: {n}");
            }
        }
        let valid: Vec<&TokenSpec> = sequence
            .iter()
            .map(|&i| &tokens[i as usize])
            .filter(|t| t.kind == Kind::Valid)
            .collect();
        let second = valid.iter().filter(|t| t.issuer == Issuer::Second).count();
        let second_share = second as f64 / valid.len() as f64;
        assert!(
            (0.2..0.8).contains(&second_share),
            "second issuer's share {second_share}"
        );
        // Reuse: the most popular user alone sends more than a tenth of the valid requests.
        let mut counts = vec![0usize; workload.users];
        for t in &valid {
            counts[t.index] += 1;
        }
        let top = counts.iter().max().copied().unwrap_or(0);
        assert!(top * 10 > valid.len(), "top user {top} of {}", valid.len());
    }
}
