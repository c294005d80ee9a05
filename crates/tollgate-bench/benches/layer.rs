//! The layer's own cost per request, without a network: the same axum app with no
//! authentication and behind `AuthLayer`, called in memory (`oneshot`), RS256. Isolates what
//! Tollgate adds to a request from the HTTP stack and the load generator (see BENCHMARKS.md for
//! the HTTP benchmark). `sig-only` is the floor: no-auth plus the bare signature check.
//! Run: `cargo bench -p tollgate-bench --bench layer`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode, header};
use serde_json::{Map, Value, json};
use tollgate::testing::SigningKey;
use tollgate::{AuthLayer, Claims};
use tollgate_bench::{AUDIENCE, ISSUER, MeClaims};
use tollgate_core::{Algorithm, CryptoProvider, KeySet, TokenCacheConfig, Validation, Verifier};
use tower::ServiceExt;

fn token(key: &SigningKey, n: u64) -> String {
    token_expiring(key, n, 4_102_444_800)
}

fn token_expiring(key: &SigningKey, n: u64, exp: u64) -> String {
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(ISSUER));
    claims.insert("aud".into(), json!(AUDIENCE));
    claims.insert("sub".into(), json!(format!("user-{n}")));
    claims.insert("jti".into(), json!(n.to_string()));
    claims.insert("exp".into(), json!(exp));
    key.sign(&claims, "JWT").unwrap()
}

fn apps(keys: &KeySet, cache: Option<TokenCacheConfig>) -> (Router, Router) {
    let keys = keys.clone();
    let policy = Validation::builder([Algorithm::RS256])
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    let verifier = Verifier::new(policy, keys, CryptoProvider::default()).with_token_cache(cache);
    async fn me(Claims(claims): Claims<MeClaims>) -> Json<Value> {
        Json(json!({"sub": claims.sub}))
    }
    let protected = Router::new()
        .route("/me", get(me))
        .route_layer(AuthLayer::new(verifier));
    let open = Router::new().route("/me", get(|| async { Json(json!({"sub": "anonymous"})) }));
    (open, protected)
}

fn request(token: &str) -> Request<Body> {
    Request::get("/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

async fn call(app: &Router, token: &str) {
    call_expecting(app, token, StatusCode::OK).await
}

async fn call_expecting(app: &Router, token: &str, status: StatusCode) {
    let response = app.clone().oneshot(request(token)).await.unwrap();
    assert_eq!(response.status(), status);
    // Read the body, as a server writing the answer would.
    axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap();
}

fn bench_layer(c: &mut Criterion) {
    let key = SigningKey::generate(Algorithm::RS256).unwrap();
    // Shared by every app below: the key is parsed for the backend once, on first use.
    let keys =
        KeySet::from_jwks(&json!({"keys": [key.public_jwk().unwrap()]}).to_string()).unwrap();
    let (open, protected) = apps(&keys, Some(TokenCacheConfig::default()));
    let (_, uncached) = apps(&keys, None);
    let single = token(&key, 0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Second sighting: the single token is cached from here on.
        call(&protected, &single).await;
        call(&protected, &single).await;
    });

    let mut group = c.benchmark_group("layer/RS256");
    group.bench_function("no-auth", |b| {
        b.iter(|| runtime.block_on(call(&open, black_box(&single))))
    });
    group.bench_function("tollgate-cache-hit", |b| {
        b.iter(|| runtime.block_on(call(&protected, black_box(&single))))
    });
    // The cache's worst case: far more live tokens than entries (a pool of 2,000 distinct
    // tokens cycled through a 16-entry cache), so every request is a miss that also admits,
    // inserts and evicts.
    let (_, churning) = apps(
        &keys,
        Some(TokenCacheConfig {
            max_entries: 16,
            ..TokenCacheConfig::default()
        }),
    );
    let pool: Vec<String> = (1..=2_000).map(|n| token(&key, n)).collect();
    let mut next = 0;
    group.bench_function("tollgate-cache-churn", |b| {
        b.iter(|| {
            next = (next + 1) % pool.len();
            runtime.block_on(call(&churning, black_box(&pool[next])))
        })
    });
    // Every check on every request: the first sighting of a token costs this plus a cache
    // lookup (~0.2 us).
    group.bench_function("tollgate-cache-off", |b| {
        b.iter(|| runtime.block_on(call(&uncached, black_box(&single))))
    });
    // `tollgate-cache-off` minus this is what Tollgate adds to a token's first request beyond
    // the cryptography.
    let sig_only = tollgate_bench::sig_only_router(&key.to_pkcs8_pem().unwrap());
    group.bench_function("sig-only", |b| {
        b.iter(|| runtime.block_on(call(&sig_only, black_box(&single))))
    });
    // The refusal an attacker can choose that costs the most: a genuine signature on an expired
    // token (every check runs, then the 401 answer is built). Compare with cache-off.
    let expired = token_expiring(&key, 0, 1_000_000_000);
    group.bench_function("tollgate-refuse-expired", |b| {
        b.iter(|| {
            runtime.block_on(call_expecting(
                &uncached,
                black_box(&expired),
                StatusCode::UNAUTHORIZED,
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_layer);
criterion_main!(benches);
