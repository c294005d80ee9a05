//! Instruction-count driver for the miss path (run under `valgrind --tool=callgrind
//! --collect-atstart=no --toggle-collect='misses::measure*'`): `misses MODE REQUESTS`, where
//! MODE is `noauth`, `sig-only`, `off` (no token cache), `churn` (a 16-entry cache, every
//! token admitted and evicting) or `pool` (the default cache, tokens seen once).
#![allow(missing_docs)]

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use http::{Request, header};
use serde_json::{Map, Value, json};
use tollgate::testing::SigningKey;
use tollgate::{AuthLayer, Claims};
use tollgate_bench::api::{self, Cache};
use tollgate_bench::{AUDIENCE, ISSUER, MeClaims};
use tollgate_core::{Algorithm, KeySet, Validation};
use tower::ServiceExt;

async fn me(Claims(claims): Claims<MeClaims>) -> Json<Value> {
    Json(json!({"sub": claims.sub}))
}

#[inline(never)]
fn measure(runtime: &tokio::runtime::Runtime, app: &Router, tokens: &[String], requests: usize) {
    runtime.block_on(async {
        for i in 0..requests {
            let token = &tokens[i % tokens.len()];
            let request = Request::get("/me")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
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

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().expect("MODE");
    let requests: usize = args.next().map_or(400, |n| n.parse().unwrap());
    let key = SigningKey::generate(Algorithm::RS256).unwrap();
    let keys =
        KeySet::from_jwks(&json!({"keys": [key.public_jwk().unwrap()]}).to_string()).unwrap();
    let tokens: Vec<String> = (0..requests.min(200))
        .map(|n| {
            let mut claims = Map::new();
            claims.insert("iss".into(), json!(ISSUER));
            claims.insert("aud".into(), json!(AUDIENCE));
            claims.insert("sub".into(), json!(format!("user-{n}")));
            claims.insert("jti".into(), json!(n.to_string()));
            claims.insert("exp".into(), json!(4_102_444_800u64));
            key.sign(&claims, "JWT").unwrap()
        })
        .collect();
    let policy = Validation::builder([Algorithm::RS256])
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let protected = |cache| {
        Router::new()
            .route("/me", get(me))
            .route_layer(AuthLayer::new(api::verifier(
                policy.clone(),
                keys.clone(),
                cache,
            )))
    };
    let app = match mode.as_str() {
        "noauth" => Router::new().route("/me", get(|| async { Json(json!({"sub": "anonymous"})) })),
        "sig-only" => tollgate_bench::sig_only_router(&key.to_pkcs8_pem().unwrap()),
        "off" => protected(Cache::Off),
        "churn" => protected(Cache::Entries(16)),
        "pool" => protected(Cache::Default),
        other => panic!("unknown mode {other}"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Warm up (the key parsed for the backend, the header memo) outside the measurement.
    measure(&runtime, &app, &tokens[..1], 1);
    let tokens = if mode == "pool" {
        &tokens[1..]
    } else {
        &tokens[..]
    };
    measure(&runtime, &app, tokens, requests);
}
