//! Cost of the revocation hook on a verified-token cache hit (the hot path: the cache may skip
//! the signature, never revocation): one ES256 `Verifier` without a check, with an in-memory
//! `RevocationList`, and with a `RedisRevocations` mirror synchronised with a local
//! `redis-server`. Each list holds 1,000 revoked tokens, subjects and clients, none matching.
//!
//! Run: `cargo bench -p tollgate-redis --bench revocation` (needs `redis-server`:
//! `scripts/redis-server`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tollgate_core::revocation::{FailureMode, RevocationCheck, RevocationList};
use tollgate_core::{Algorithm, CryptoProvider, Verifier};
use tollgate_redis::{RedisRevocations, RevocationOptions, RevocationWriter};
use tollgate_test_support as support;
use tollgate_test_support::redis::RedisServer;

const ENTRIES: usize = 1_000;

fn with_check(check: impl RevocationCheck) -> Verifier {
    let base = support::default_verifier();
    Verifier::builder(
        base.validation().clone(),
        base.keys().clone(),
        CryptoProvider::default(),
    )
    .revocation(check, FailureMode::FailClosed)
    .build()
}

fn bench_revocation(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = RedisServer::start();
    let list = RevocationList::new();
    let mirror = runtime.block_on(async {
        let writer = RevocationWriter::connect(&server.url()).await.unwrap();
        for i in 0..ENTRIES {
            let id = format!("other-{i}");
            list.revoke_token(&id, 4_102_444_800);
            list.revoke_subject(&id, 1_700_000_000);
            list.revoke_client(&id, 1_700_000_000);
            writer.revoke_token(&id, 4_102_444_800).await.unwrap();
            writer.revoke_subject(&id, 1_700_000_000).await.unwrap();
            writer.revoke_client(&id, 1_700_000_000).await.unwrap();
        }
        let mirror =
            RedisRevocations::connect(&server.url(), RevocationOptions::default()).unwrap();
        assert!(mirror.wait_fresh(Duration::from_secs(5)).await);
        mirror
    });
    let status = mirror.status();
    assert_eq!(
        (status.tokens, status.subjects, status.clients),
        (ENTRIES, ENTRIES, ENTRIES)
    );

    let mut claims = support::claims();
    claims["jti"] = "bench-token".into();
    claims["iat"] = 1_750_000_000.into();
    let token = support::sign(Algorithm::ES256, &claims);
    let verifiers = [
        ("no-revocation", support::default_verifier()),
        ("revocation-list", with_check(list)),
        ("redis-mirror", with_check(mirror.clone())),
    ];
    let mut group = c.benchmark_group("revocation/cache-hit");
    for (name, verifier) in &verifiers {
        // Warm the cache: every iteration below is a hit.
        support::block_on(verifier.verify(&token)).unwrap();
        group.bench_function(*name, |b| {
            b.iter(|| support::block_on(verifier.verify(black_box(&token))).unwrap())
        });
    }
    group.finish();
    drop(verifiers);
    drop(mirror);
    drop(server);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(60).measurement_time(Duration::from_secs(3));
    targets = bench_revocation
}
criterion_main!(benches);
