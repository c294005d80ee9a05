//! An injected clock decides every time rule: `exp`, `nbf`, leeway, the verified-token cache's
//! lifetimes, and a `MultiIssuer`'s shared cache, without sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::json;
use tollgate_core::clock::ManualClock;
use tollgate_core::{Algorithm, CryptoProvider, Error, MultiIssuer, Verifier};
use tollgate_test_support::{self as support, block_on, claims, key_set, now, policy, sign};

fn verifier(clock: &ManualClock, leeway: u64) -> Verifier {
    Verifier::builder(
        policy()
            .leeway(Duration::from_secs(leeway))
            .build()
            .unwrap(),
        key_set(),
        CryptoProvider::default(),
    )
    .clock(clock.clone())
    .build()
}

#[test]
fn exp_nbf_and_leeway_follow_the_clock_on_misses_and_cache_hits() {
    let start = now();
    let clock = ManualClock::at(start);
    let verifier = verifier(&clock, 5);
    let mut c = claims();
    c["iat"] = json!(start);
    c["nbf"] = json!(start + 100);
    c["exp"] = json!(start + 200);
    let token = sign(Algorithm::ES256, &c);
    assert!(matches!(
        block_on(verifier.verify(&token)),
        Err(Error::NotYetValid { .. })
    ));
    clock.set(start + 96); // within the leeway of nbf
    for _ in 0..3 {
        assert!(block_on(verifier.verify(&token)).is_ok());
    }
    assert!(
        verifier.token_cache_stats().unwrap().hits >= 1,
        "cached by now"
    );
    clock.set(start + 204); // past exp, within the leeway
    assert!(block_on(verifier.verify(&token)).is_ok());
    clock.advance(Duration::from_secs(2));
    assert!(
        matches!(
            block_on(verifier.verify(&token)),
            Err(Error::Expired { .. })
        ),
        "the cached entry ends with the token, by the injected clock"
    );
}

#[test]
fn a_multi_issuer_judges_routed_tokens_by_its_clock() {
    let start = now();
    let clock = ManualClock::at(start);
    let routed = verifier(&ManualClock::at(0), 0); // its own clock is not used behind the router
    let multi = MultiIssuer::builder()
        .clock(clock.clone())
        .verifier(support::ISSUER, routed)
        .build()
        .unwrap();
    let mut c = claims();
    c["iat"] = json!(start);
    c["nbf"] = json!(start);
    c["exp"] = json!(start + 60);
    let token = sign(Algorithm::ES256, &c);
    for _ in 0..3 {
        let outcome = block_on(multi.verify(&token));
        assert!(outcome.is_ok(), "{outcome:?}");
    }
    clock.advance(Duration::from_secs(61));
    assert!(matches!(
        block_on(multi.verify(&token)),
        Err(Error::Expired { .. })
    ));
}

/// A key set ages by the injected clock: past its lifetime the next lookup refetches, past the
/// stale window with the key server down it fails closed; no sleeping.
#[cfg(feature = "remote")]
#[tokio::test]
async fn a_jwks_source_ages_its_key_set_by_the_clock() {
    use tollgate_core::remote::JwksSource;
    use tollgate_test_support::jwks_value;
    use tollgate_test_support::server::{Loopback, Route};

    let start = now();
    let clock = ManualClock::at(start);
    let server = Loopback::start().await;
    server.serve("/jwks", &jwks_value(), &[("cache-control", "max-age=600")]);
    let source = JwksSource::builder(server.url("/jwks"))
        .allow_insecure_http(true)
        .ttl_bounds(Duration::from_secs(60), Duration::from_secs(3600))
        .stale_if_error(Duration::from_secs(300))
        .clock(clock.clone())
        .build()
        .unwrap();
    let verifier = Verifier::builder(policy().build().unwrap(), source, CryptoProvider::default())
        .token_cache(None)
        .clock(clock.clone())
        .build();
    let fresh_token = |at: i64| {
        let mut c = claims();
        c["iat"] = json!(at);
        c["nbf"] = json!(at);
        c["exp"] = json!(at + 36_000);
        sign(Algorithm::RS256, &c)
    };
    verifier.verify(&fresh_token(start)).await.unwrap();
    verifier.verify(&fresh_token(start)).await.unwrap();
    assert_eq!(server.hits("/jwks"), 1, "fresh for max-age");

    clock.advance(Duration::from_secs(601));
    verifier.verify(&fresh_token(start)).await.unwrap();
    // The refetch may run in the background: wait for it (real time, bounded).
    for _ in 0..100 {
        if server.hits("/jwks") >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.hits("/jwks"), 2, "expired by the clock: refetched");

    // The key server goes down; within the stale window the cached keys still serve...
    server.route("/jwks", Route::status(500));
    clock.advance(Duration::from_secs(601 + 100));
    assert!(
        verifier.verify(&fresh_token(start)).await.is_ok(),
        "stale but usable"
    );
    // ...and past it, the source fails closed.
    clock.advance(Duration::from_secs(400));
    let err = verifier.verify(&fresh_token(start)).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}
