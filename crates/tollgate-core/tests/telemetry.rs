//! The metrics of `tollgate_core::telemetry`, recorded by a debugging recorder: verifications by
//! outcome and reason (cache hits included), cache lookups and evictions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use serde_json::json;
use tollgate_core::telemetry::{TOKEN_CACHE_EVICTIONS, TOKEN_CACHE_LOOKUPS, VERIFICATIONS};
use tollgate_core::{Algorithm, CryptoProvider, TokenCacheConfig, Verifier};
use tollgate_test_support::{block_on, claims, claims_with, key_set, now, policy, sign};

/// Everything recorded so far, by key.
fn recorded(snapshotter: &Snapshotter) -> Vec<(CompositeKey, DebugValue)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect()
}

/// The counter `name` with exactly these labels, 0 when never recorded.
fn counter(snapshot: &[(CompositeKey, DebugValue)], name: &str, labels: &[(&str, &str)]) -> u64 {
    snapshot
        .iter()
        .filter(|(key, _)| key.kind() == MetricKind::Counter && key.key().name() == name)
        .filter(|(key, _)| {
            let mut have: Vec<(&str, &str)> =
                key.key().labels().map(|l| (l.key(), l.value())).collect();
            let mut want = labels.to_vec();
            have.sort();
            want.sort();
            have == want
        })
        .map(|(_, value)| match value {
            DebugValue::Counter(n) => *n,
            other => panic!("{name} is not a counter: {other:?}"),
        })
        .sum()
}

#[test]
fn verifications_cache_lookups_and_evictions_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let entries = metrics::with_local_recorder(&recorder, || {
        tollgate_core::telemetry::describe();
        let verifier = Verifier::builder(
            policy().build().unwrap(),
            key_set(),
            CryptoProvider::default(),
        )
        .token_cache(Some(TokenCacheConfig {
            max_entries: 16,
            ..TokenCacheConfig::default()
        }))
        .build();
        let token = sign(Algorithm::ES256, &claims());
        // Miss (first sighting), miss (admitted and cached), hit, hit.
        for _ in 0..4 {
            block_on(verifier.verify(&token)).unwrap();
        }
        let expired = sign(
            Algorithm::ES256,
            &claims_with("exp", Some(json!(now() - 3600))),
        );
        block_on(verifier.verify(&expired)).unwrap_err();
        let forged = tollgate_test_support::tamper_signature(&token);
        block_on(verifier.verify(&forged)).unwrap_err();
        // 40 more tokens, each seen twice (admitted on the second sighting), into 16 entries
        // (one per shard): every insert into a full shard evicts one entry.
        for n in 0..40 {
            let other = sign(
                Algorithm::ES256,
                &claims_with("sub", Some(json!(format!("user-{n}")))),
            );
            for _ in 0..2 {
                block_on(verifier.verify(&other)).unwrap();
            }
        }
        verifier.token_cache_stats().unwrap().entries
    });
    let snapshot = recorded(&snapshotter);
    assert_eq!(
        counter(
            &snapshot,
            VERIFICATIONS,
            &[("outcome", "accepted"), ("reason", "none")]
        ),
        4 + 80
    );
    assert_eq!(
        counter(
            &snapshot,
            VERIFICATIONS,
            &[("outcome", "refused"), ("reason", "expired")]
        ),
        1
    );
    let refused: u64 = ["invalid_signature", "malformed"]
        .iter()
        .map(|reason| {
            counter(
                &snapshot,
                VERIFICATIONS,
                &[("outcome", "refused"), ("reason", reason)],
            )
        })
        .sum();
    assert_eq!(refused, 1, "the forged token");
    assert_eq!(
        counter(&snapshot, TOKEN_CACHE_LOOKUPS, &[("result", "hit")]),
        2
    );
    // Misses: the token twice, the expired and forged ones, the 40 others twice each.
    assert_eq!(
        counter(&snapshot, TOKEN_CACHE_LOOKUPS, &[("result", "miss")]),
        4 + 80
    );
    // 41 tokens inserted; what the cache does not hold now was evicted.
    assert!(entries <= 16);
    assert_eq!(
        counter(&snapshot, TOKEN_CACHE_EVICTIONS, &[]),
        41 - entries as u64
    );
}

#[cfg(feature = "remote")]
#[test]
fn key_fetches_and_the_refresh_time_are_recorded() {
    use tollgate_core::telemetry::{KEY_FETCHES, KEY_SET_REFRESHED_AT};
    use tollgate_test_support::jwks_value;
    use tollgate_test_support::server::Loopback;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let server = Loopback::json("/jwks", &jwks_value()).await;
            let source = tollgate_core::remote::JwksSource::builder(server.url("/jwks"))
                .build()
                .unwrap();
            let verifier =
                Verifier::new(policy().build().unwrap(), source, CryptoProvider::default());
            let token = sign(Algorithm::RS256, &claims());
            verifier.verify(&token).await.unwrap();
        })
    });
    let snapshot = recorded(&snapshotter);
    assert_eq!(counter(&snapshot, KEY_FETCHES, &[("result", "ok")]), 1);
    let refreshed = snapshot
        .iter()
        .find(|(key, _)| key.key().name() == KEY_SET_REFRESHED_AT)
        .map(|(_, value)| match value {
            DebugValue::Gauge(at) => at.into_inner(),
            other => panic!("not a gauge: {other:?}"),
        })
        .expect("the refresh time is set");
    assert!((refreshed - now() as f64).abs() < 60.0, "{refreshed}");
}

#[test]
fn dpop_proofs_are_counted_by_outcome_and_reason() {
    use tollgate_core::dpop::{DpopVerifier, ProofCheck, ProofRequest};
    use tollgate_core::telemetry::DPOP_PROOFS;
    use tollgate_core::testing::SigningKey;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let verifier = DpopVerifier::builder("https://api.example.com")
            .unwrap()
            .build();
        let client = SigningKey::generate(Algorithm::EdDSA).unwrap();
        let jkt = client.jwk_thumbprint().unwrap();
        let proof = client
            .dpop_proof("GET", "https://api.example.com/orders", Some("a.b.c"), None)
            .unwrap();
        let check = |proof: &str, path: &str| {
            let request = ProofRequest {
                proof,
                method: "GET",
                path,
                access_token: "a.b.c",
                token_jkt: Some(&jkt),
            };
            match verifier.check(request) {
                ProofCheck::Done(outcome) => outcome.is_ok(),
                ProofCheck::Pending(_) => panic!("the memory store answers at once"),
            }
        };
        assert!(check(&proof, "/orders"));
        assert!(!check(&proof, "/orders"), "replayed");
        assert!(!check(&proof, "/other"), "another URI");
    });
    let snapshot = recorded(&snapshotter);
    assert_eq!(
        counter(
            &snapshot,
            DPOP_PROOFS,
            &[("outcome", "accepted"), ("reason", "none")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            DPOP_PROOFS,
            &[("outcome", "refused"), ("reason", "dpop_replayed")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            DPOP_PROOFS,
            &[("outcome", "refused"), ("reason", "dpop_uri_mismatch")]
        ),
        1
    );
}
