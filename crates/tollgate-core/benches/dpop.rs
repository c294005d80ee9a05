//! DPoP proof checks per call (ES256 and EdDSA proofs, in-memory replay store), and the memory
//! one replay-store entry takes.
//!
//! Run: `cargo bench -p tollgate-core --bench dpop -- --measurement-time 3`.
//! The memory case prints its numbers before criterion starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use criterion::{Criterion, criterion_group};
use serde_json::json;
use tollgate_core::Algorithm;
use tollgate_core::dpop::{
    DpopVerifier, MemoryReplayStore, ProofCheck, ProofRequest, ReplayKey, ReplayStore,
};
use tollgate_core::testing::{SigningKey, access_token_hash};

const NOW: i64 = 1_900_000_000;
const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2ln";
/// Distinct proofs per algorithm: criterion runs more iterations than this, and the ones after
/// are replays, which go through every check too (the replay store is the last) and are refused
/// there.
const POOL: usize = 20_000;

fn proofs(key: &SigningKey) -> Vec<String> {
    (0..POOL)
        .map(|i| {
            let claims = json!({
                "jti": format!("jti-{i}"), "htm": "GET", "htu": "https://api.example.com/orders",
                "iat": NOW, "ath": access_token_hash(TOKEN),
            });
            key.sign_dpop_proof(claims.as_object().unwrap()).unwrap()
        })
        .collect()
}

fn checks(c: &mut Criterion) {
    let mut group = c.benchmark_group("dpop_check");
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let key = SigningKey::generate(alg).unwrap();
        let jkt = key.jwk_thumbprint().unwrap();
        let pool = proofs(&key);
        let verifier = DpopVerifier::builder("https://api.example.com")
            .unwrap()
            .replay_store(MemoryReplayStore::new(POOL * 2))
            .clock(|| NOW)
            .build();
        let mut i = 0usize;
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                i = (i + 1) % POOL;
                let check = verifier.check(ProofRequest {
                    proof: &pool[i],
                    method: "GET",
                    path: "/orders",
                    access_token: TOKEN,
                    token_jkt: Some(&jkt),
                });
                assert!(matches!(check, ProofCheck::Done(_)));
                check
            })
        });
    }
    group.finish();
}

/// Resident memory of a full in-memory replay store, per entry.
fn replay_store_memory() {
    const N: usize = 1_000_000;
    let before = tollgate_test_support::resident_bytes();
    // Room to spare: shards fill unevenly, and a full one refuses.
    let store = MemoryReplayStore::new(N * 2);
    for i in 0..N as u64 {
        // Keys spread like SHA-256 outputs: the shard comes from the first byte.
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&i.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
        bytes[8..16].copy_from_slice(&i.to_le_bytes());
        let answer = store.insert_if_absent(ReplayKey::from_bytes(bytes), Duration::from_secs(600));
        assert_eq!(tollgate_test_support::block_on(answer), Ok(true));
    }
    let after = tollgate_test_support::resident_bytes();
    let held = store.len().max(1) as u64;
    println!(
        "replay_store_memory: {held} entries, RSS +{:.1} MiB, {} bytes per entry",
        (after.saturating_sub(before)) as f64 / 1_048_576.0,
        after.saturating_sub(before) / held
    );
}

criterion_group!(benches, checks);

fn main() {
    replay_store_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
