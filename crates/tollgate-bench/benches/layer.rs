//! The layer's own cost per request, without a network: the same axum app with no
//! authentication and behind `AuthLayer`, called in memory (`oneshot`), RS256. Isolates what
//! Tollgate adds to a request from the HTTP stack and the load generator (see BENCHMARKS.md for
//! the HTTP benchmark). `sig-only` is the floor: no-auth plus the bare signature check.
//! Cases for issue 13's targets: one token (`tollgate-cache-hit`), a pool of 1,000 tokens reused
//! round-robin (`tollgate-reuse-1000`), a pool larger than the cache so every request is a miss
//! (`tollgate-cache-churn`), and a cache hit behind a two-issuer `MultiIssuer`
//! (`tollgate-multi-issuer-hit`, to compare with `tollgate-cache-hit`).
//! Run: `cargo bench -p tollgate-bench --bench layer`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tollgate::testing::SigningKey;
use tollgate::{AuthLayer, Claims};
use tollgate_bench::api::{self, Cache};
use tollgate_bench::{ISSUER, ISSUER2, MeClaims, served};
use tollgate_core::remote::MultiIssuer;
use tollgate_core::{Algorithm, KeySet, TokenCacheStats, Validation, Verifier};
use tower::ServiceExt;

fn token(key: &SigningKey, n: u64) -> String {
    token_expiring(key, n, 4_102_444_800)
}

fn token_expiring(key: &SigningKey, n: u64, exp: u64) -> String {
    token_of(key, ISSUER, n, exp)
}

fn token_of(key: &SigningKey, iss: &str, n: u64, exp: u64) -> String {
    tollgate_bench::in_memory_token(key, iss, n, exp)
}

fn policy(issuer: &str) -> Validation {
    tollgate_bench::rs256_policy(issuer)
}

async fn me(Claims(claims): Claims<MeClaims>) -> Json<Value> {
    Json(json!({"sub": claims.sub}))
}

fn apps(keys: &KeySet, cache: Cache) -> (Router, Router, Verifier) {
    let verifier = api::verifier(policy(ISSUER), keys.clone(), cache);
    let protected = served(
        Router::new()
            .route("/me", get(me))
            .route_layer(AuthLayer::new(verifier.clone())),
    );
    let open =
        served(Router::new().route("/me", get(|| async { Json(json!({"sub": "anonymous"})) })));
    (open, protected, verifier)
}

/// The app behind a `MultiIssuer` of two issuers, each with its own key set and cache.
fn multi_issuer_app(first: &KeySet, second: &KeySet) -> (Router, MultiIssuer, [Verifier; 2]) {
    let a = api::verifier(policy(ISSUER), first.clone(), Cache::Default);
    let b = api::verifier(policy(ISSUER2), second.clone(), Cache::Default);
    let multi = api::multi_issuer([(ISSUER, a.clone()), (ISSUER2, b.clone())]);
    let app = served(
        Router::new()
            .route("/me", get(me))
            .route_layer(AuthLayer::new(multi.clone())),
    );
    (app, multi, [a, b])
}

/// Reports how many verifications the cache answered, so a case that should be all hits (or all
/// misses) visibly is.
fn report(case: &str, stats: Option<TokenCacheStats>) {
    let stats = stats.unwrap_or_default();
    eprintln!(
        "{case}: token cache {} hits, {} misses",
        stats.hits, stats.misses
    );
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
    let (open, protected, protected_verifier) = apps(&keys, Cache::Default);
    let (_, uncached, _) = apps(&keys, Cache::Off);
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
    // The floor of any layer's hit: a layer that only hands the handler a fixed identity.
    let handoff = served(tollgate_bench::handoff_router());
    group.bench_function("handoff", |b| {
        b.iter(|| runtime.block_on(call(&handoff, black_box(&single))))
    });
    group.bench_function("tollgate-cache-hit", |b| {
        b.iter(|| runtime.block_on(call(&protected, black_box(&single))))
    });
    report("tollgate-cache-hit", api::cache_stats(&protected_verifier));
    // Many users, each reusing their token: 1,000 distinct tokens round-robin through the
    // default cache, all cached before measuring (a token is admitted on its second sighting).
    let (_, reusing, reusing_verifier) = apps(&keys, Cache::Default);
    let pool: Vec<String> = (1..=2_000).map(|n| token(&key, n)).collect();
    let reused = &pool[..1_000];
    runtime.block_on(async {
        for _ in 0..2 {
            for token in reused {
                call(&reusing, token).await;
            }
        }
    });
    let mut next = 0;
    group.bench_function("tollgate-reuse-1000", |b| {
        b.iter(|| {
            next = (next + 1) % reused.len();
            runtime.block_on(call(&reusing, black_box(&reused[next])))
        })
    });
    report("tollgate-reuse-1000", api::cache_stats(&reusing_verifier));
    // A cache hit behind a two-issuer `MultiIssuer` (the token is the first issuer's): should
    // cost what `tollgate-cache-hit` costs.
    let second_key = SigningKey::generate(Algorithm::RS256)
        .unwrap()
        .with_kid("second");
    let second_keys =
        KeySet::from_jwks(&json!({"keys": [second_key.public_jwk().unwrap()]}).to_string())
            .unwrap();
    let (multi, multi_router, multi_verifiers) = multi_issuer_app(&keys, &second_keys);
    runtime.block_on(async {
        call(&multi, &single).await;
        call(&multi, &single).await;
        // The second issuer's tokens are accepted too, by its own keys only.
        let second = token_of(&second_key, ISSUER2, 0, 4_102_444_800);
        call(&multi, &second).await;
        let forged = token_of(&key, ISSUER2, 0, 4_102_444_800);
        call_expecting(&multi, &forged, StatusCode::UNAUTHORIZED).await;
    });
    group.bench_function("tollgate-multi-issuer-hit", |b| {
        b.iter(|| runtime.block_on(call(&multi, black_box(&single))))
    });
    report(
        "tollgate-multi-issuer-hit",
        api::multi_issuer_cache_stats(&multi_router, &multi_verifiers),
    );
    // The cache's worst case, and the "uncached pool" of the HTTP benchmark: far more live
    // tokens than entries (a pool of 2,000 distinct tokens cycled through a 16-entry cache), so
    // every request is a miss that also admits, inserts and evicts.
    let (_, churning, churning_verifier) = apps(&keys, Cache::Entries(16));
    let mut next = 0;
    group.bench_function("tollgate-cache-churn", |b| {
        b.iter(|| {
            next = (next + 1) % pool.len();
            runtime.block_on(call(&churning, black_box(&pool[next])))
        })
    });
    report("tollgate-cache-churn", api::cache_stats(&churning_verifier));
    // Every check on every request: the first sighting of a token costs this plus a cache
    // lookup (~0.2 us).
    group.bench_function("tollgate-cache-off", |b| {
        b.iter(|| runtime.block_on(call(&uncached, black_box(&single))))
    });
    // `tollgate-cache-off` minus this is what Tollgate adds to a token's first request beyond
    // the cryptography.
    let sig_only = served(tollgate_bench::sig_only_router(
        &key.to_pkcs8_pem().unwrap(),
    ));
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
