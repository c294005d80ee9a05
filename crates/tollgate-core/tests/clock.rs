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
