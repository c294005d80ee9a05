//! Instruction counts per request, in memory (the app of `benches/layer.rs`, called through
//! `oneshot`): what `instructions.sh` runs under `valgrind --tool=callgrind`, which counts only
//! inside `measure`. Unlike times, the counts do not move with the machine's load, so before and
//! after a change compare exactly, even on a busy VM (they do not see cache misses or
//! contention: the HTTP benchmark does).
//!
//! `instructions MODE REQUESTS`, MODE one of:
//! - `noauth`: no authentication; `sig-only`: no-auth plus the bare RS256 signature check;
//! - `handoff`: no-auth behind a layer that only hands the handler a fixed identity
//!   ([`tollgate_bench::handoff_router`]): the floor of any authentication layer's cache hit;
//! - `hit`: one cached token; `reuse`: 100 cached tokens round-robin;
//! - `multi-hit`: one cached token behind a two-issuer `MultiIssuer`;
//! - `outer-hit`: one cached token, the layer around the whole router (`AuthLayer::layer(router)`)
//!   instead of `route_layer` on its route: what axum's per-route layering adds to a hit;
//! - `off`: no token cache, a pool of tokens; `churn`: a 16-entry cache, every token admitted and
//!   evicting; `pool`: the default cache, each token seen once (the uncached pool);
//! - `dpop-es256`, `dpop-eddsa`: one cached DPoP-bound token, each request with a fresh proof
//!   signed with that client key (the current API only: `instructions.sh` runs them for
//!   `after` alone).
#![allow(missing_docs)]

use std::convert::Infallible;

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use http::{Request, header};
use serde_json::{Map, Value, json};
use tollgate::testing::SigningKey;
use tollgate::{AuthLayer, Claims};
use tollgate_bench::api::{self, Cache};
use tollgate_bench::{AUDIENCE, ISSUER, ISSUER2, MeClaims};
use tollgate_core::{Algorithm, KeySet, Validation};
use tower::{Layer as _, ServiceExt};

async fn me(Claims(claims): Claims<MeClaims>) -> Json<Value> {
    Json(json!({"sub": claims.sub}))
}

/// An app called as a server calls it: a router, or a layer around one.
trait App:
    tower::Service<Request<Body>, Response = axum::response::Response, Error = Infallible> + Clone
{
}

impl<A> App for A where
    A: tower::Service<Request<Body>, Response = axum::response::Response, Error = Infallible>
        + Clone
{
}

/// The counted part (callgrind counts inside this function only): [`drive`].
#[inline(never)]
fn measure(runtime: &tokio::runtime::Runtime, app: &impl App, tokens: &[String], requests: usize) {
    drive(runtime, app, tokens, requests);
}

/// `requests` requests, token `i % tokens.len()` for the i-th, each answered 200. A "token" of
/// the form `DPoP <token> <proof>` is sent with the DPoP scheme and that proof.
fn drive(runtime: &tokio::runtime::Runtime, app: &impl App, tokens: &[String], requests: usize) {
    runtime.block_on(async {
        for i in 0..requests {
            let token = &tokens[i % tokens.len()];
            let request = match token.strip_prefix("DPoP ").and_then(|t| t.split_once(' ')) {
                Some((token, proof)) => Request::get("/me")
                    .header(header::AUTHORIZATION, format!("DPoP {token}"))
                    .header("dpop", proof),
                None => {
                    Request::get("/me").header(header::AUTHORIZATION, format!("Bearer {token}"))
                }
            }
            .body(Body::empty())
            .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            axum::body::to_bytes(response.into_body(), 64 * 1024)
                .await
                .unwrap();
        }
    });
}

fn token(key: &SigningKey, iss: &str, n: usize) -> String {
    tollgate_bench::in_memory_token(key, iss, n as u64, 4_102_444_800)
}

fn policy(issuer: &str) -> Validation {
    tollgate_bench::rs256_policy(issuer)
}

fn jwks(key: &SigningKey) -> KeySet {
    KeySet::from_jwks(&json!({"keys": [key.public_jwk().unwrap()]}).to_string()).unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().expect("MODE");
    let requests: usize = args.next().map_or(400, |n| n.parse().unwrap());
    let key = SigningKey::generate(Algorithm::RS256).unwrap();
    let keys = jwks(&key);
    let pool_size = match mode.as_str() {
        "hit" | "outer-hit" | "multi-hit" | "noauth" | "handoff" | "sig-only" => 1,
        "reuse" => 100,
        _ => requests.min(200),
    };
    // One more than measured: the first warms up (the key parsed for the backend, the header
    // memo) outside the measurement, and in `pool` it is never seen again.
    let tokens: Vec<String> = (0..=pool_size).map(|n| token(&key, ISSUER, n)).collect();
    let protected = |cache| {
        Router::new()
            .route("/me", get(me))
            .route_layer(AuthLayer::new(api::verifier(
                policy(ISSUER),
                keys.clone(),
                cache,
            )))
    };
    #[cfg(not(feature = "legacy-api"))]
    if let Some(alg) = match mode.as_str() {
        "dpop-es256" => Some(Algorithm::ES256),
        "dpop-eddsa" => Some(Algorithm::EdDSA),
        _ => None,
    } {
        return dpop(&key, &keys, alg, requests);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (warm, measured) = tokens.split_at(1);
    if mode == "outer-hit" {
        let verifier = api::verifier(policy(ISSUER), keys.clone(), Cache::Default);
        let router = tollgate_bench::served(Router::new().route("/me", get(me)));
        let app = AuthLayer::new(verifier).layer(router);
        drive(&runtime, &app, warm, 1);
        drive(&runtime, &app, measured, 2);
        return measure(&runtime, &app, measured, requests);
    }
    let app = tollgate_bench::served(match mode.as_str() {
        "noauth" => Router::new().route("/me", get(|| async { Json(json!({"sub": "anonymous"})) })),
        "handoff" => tollgate_bench::handoff_router(),
        "sig-only" => tollgate_bench::sig_only_router(&key.to_pkcs8_pem().unwrap()),
        "off" => protected(Cache::Off),
        "churn" => protected(Cache::Entries(16)),
        "pool" | "hit" | "reuse" => protected(Cache::Default),
        "multi-hit" => {
            let second = SigningKey::generate(Algorithm::RS256)
                .unwrap()
                .with_kid("second");
            let multi = api::multi_issuer([
                (
                    ISSUER,
                    api::verifier(policy(ISSUER), keys.clone(), Cache::Default),
                ),
                (
                    ISSUER2,
                    api::verifier(policy(ISSUER2), jwks(&second), Cache::Default),
                ),
            ]);
            Router::new()
                .route("/me", get(me))
                .route_layer(AuthLayer::new(multi))
        }
        other => panic!("unknown mode {other}"),
    });
    drive(&runtime, &app, warm, 1);
    if matches!(mode.as_str(), "hit" | "reuse" | "multi-hit") {
        // Two sightings each: cached from here on.
        drive(&runtime, &app, measured, 2 * measured.len());
    }
    let measured = if matches!(mode.as_str(), "noauth" | "handoff" | "sig-only") {
        warm
    } else {
        measured
    };
    measure(&runtime, &app, measured, requests);
}

/// The `dpop-*` modes: one DPoP-bound token (cached after its second sighting), each request
/// with its own proof (a proof is single-use), all signed before counting.
#[cfg(not(feature = "legacy-api"))]
fn dpop(key: &SigningKey, keys: &KeySet, alg: Algorithm, requests: usize) {
    use tollgate_core::dpop::{DpopMode, DpopVerifier};

    const ORIGIN: &str = "http://localhost";
    let client = SigningKey::generate(alg).unwrap();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(ISSUER));
    claims.insert("aud".into(), json!(AUDIENCE));
    claims.insert("sub".into(), json!("user-1"));
    claims.insert("exp".into(), json!(4_102_444_800u64));
    claims.insert(
        "cnf".into(),
        json!({"jkt": client.jwk_thumbprint().unwrap()}),
    );
    let token = key.sign(&claims, "JWT").unwrap();
    let proofs: Vec<String> = (0..requests + 3)
        .map(|_| {
            let proof = client
                .dpop_proof("GET", &format!("{ORIGIN}/me"), Some(&token), None)
                .unwrap();
            format!("DPoP {token} {proof}")
        })
        .collect();
    let layer = AuthLayer::builder(api::verifier(policy(ISSUER), keys.clone(), Cache::Default))
        .dpop(
            DpopVerifier::builder(ORIGIN).unwrap().build(),
            DpopMode::Required,
        )
        .build();
    let app = tollgate_bench::served(Router::new().route("/me", get(me)).route_layer(layer));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Three requests outside the count: the token is cached from the second on.
    let (warm, measured) = proofs.split_at(3);
    for proof in warm {
        drive(&runtime, &app, std::slice::from_ref(proof), 1);
    }
    measure(&runtime, &app, measured, requests);
}
