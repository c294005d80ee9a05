//! Revocation through the verifier: every rule on a full verification and on a cache hit, the
//! failure modes, a check that has to wait, and a `MultiIssuer` route with its own check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::json;
use tollgate_core::revocation::{
    FailureMode, RevocationCheck, RevocationError, RevocationFuture, RevocationList, Revoked,
    TokenFacts,
};
use tollgate_core::{Algorithm, CryptoProvider, Error, ErrorCode, MultiIssuer, Verifier};
use tollgate_test_support::{self as support, block_on, claims, key_set, now, policy, sign};

fn verifier_with(check: impl RevocationCheck, mode: FailureMode) -> Verifier {
    Verifier::builder(
        policy().build().unwrap(),
        key_set(),
        CryptoProvider::default(),
    )
    .revocation(check, mode)
    .build()
}

fn token(extra: serde_json::Value) -> String {
    let mut claims = claims();
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    sign(Algorithm::ES256, &claims)
}

#[test]
fn every_rule_refuses_on_a_full_verification_and_on_a_cache_hit() {
    let list = RevocationList::new();
    let verifier = verifier_with(list.clone(), FailureMode::FailClosed);
    let by_jti = token(json!({"jti": "j-1"}));
    let by_sub = token(json!({"sub": "alice", "iat": now() - 100}));
    let by_client = token(json!({"sub": "bob", "client_id": "app-1"}));
    let by_azp = token(json!({"sub": "carol", "azp": "app-1"}));
    let tokens = [&by_jti, &by_sub, &by_client, &by_azp];
    // Seen twice: cached from the second sighting on, so the refusals below are cache hits.
    for _ in 0..2 {
        for token in tokens {
            block_on(verifier.verify(token)).unwrap();
        }
    }
    let hits_before = verifier.token_cache_stats().unwrap().hits;

    list.revoke_token("j-1", now() + 3600);
    list.revoke_subject("alice", now());
    list.revoke_client("app-1", now() + 1);
    for token in tokens {
        let err = block_on(verifier.verify(token)).unwrap_err();
        assert!(matches!(err, Error::Revoked(_)), "{err:?}");
        assert_eq!(err.code(), ErrorCode::InvalidToken);
        assert_eq!(err.public_description(), "the access token was revoked");
    }
    assert_eq!(
        block_on(verifier.verify(&by_jti)).unwrap_err(),
        Error::Revoked(Revoked::Token)
    );
    assert!(
        verifier.token_cache_stats().unwrap().hits > hits_before,
        "the refusals were cache hits"
    );
    // The same rules on a verifier without a cache (full verifications only).
    let uncached = Verifier::builder(
        policy().build().unwrap(),
        key_set(),
        CryptoProvider::default(),
    )
    .token_cache(None)
    .revocation(list, FailureMode::FailClosed)
    .build();
    for token in tokens {
        assert!(matches!(
            block_on(uncached.verify(token)),
            Err(Error::Revoked(_))
        ));
    }
}

#[test]
fn a_subject_token_issued_at_or_after_the_instant_passes_and_one_without_iat_does_not() {
    let list = RevocationList::new();
    let verifier = verifier_with(list.clone(), FailureMode::FailClosed);
    let t = now() - 50;
    list.revoke_subject("alice", t);
    let at = token(json!({"sub": "alice", "iat": t}));
    let after = token(json!({"sub": "alice", "iat": t + 10}));
    let before = token(json!({"sub": "alice", "iat": t - 1}));
    let mut no_iat = claims();
    no_iat["sub"] = json!("alice");
    no_iat.as_object_mut().unwrap().remove("iat");
    let no_iat = sign(Algorithm::ES256, &no_iat);
    assert!(block_on(verifier.verify(&at)).is_ok(), "iat == T accepted");
    assert!(block_on(verifier.verify(&after)).is_ok());
    assert_eq!(
        block_on(verifier.verify(&before)).unwrap_err(),
        Error::Revoked(Revoked::Subject { before: t })
    );
    assert_eq!(
        block_on(verifier.verify(&no_iat)).unwrap_err(),
        Error::Revoked(Revoked::Subject { before: t })
    );
    // Someone else's token is untouched.
    assert!(block_on(verifier.verify(&token(json!({"sub": "dave"})))).is_ok());
}

#[derive(Default)]
struct Flaky {
    down: AtomicBool,
    calls: AtomicUsize,
}

impl RevocationCheck for Flaky {
    fn check(&self, _: &TokenFacts<'_>, _: i64) -> RevocationFuture {
        self.calls.fetch_add(1, Ordering::SeqCst);
        RevocationFuture::ready(if self.down.load(Ordering::SeqCst) {
            Err(RevocationError("store unreachable".into()))
        } else {
            Ok(None)
        })
    }
}

#[test]
fn an_unavailable_check_fails_closed_by_default_or_open_when_asked() {
    let flaky = Arc::new(Flaky::default());
    let closed = verifier_with(flaky.clone(), FailureMode::default());
    let open = verifier_with(flaky.clone(), FailureMode::FailOpen);
    let token = token(json!({}));
    assert!(block_on(closed.verify(&token)).is_ok());
    flaky.down.store(true, Ordering::SeqCst);
    let err = block_on(closed.verify(&token)).unwrap_err();
    assert!(matches!(err, Error::RevocationUnavailable(_)), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(err.code(), ErrorCode::TemporarilyUnavailable);
    assert!(block_on(open.verify(&token)).is_ok(), "fail open accepts");
    // A refused token is refused before revocation is asked: the check sees accepted tokens only.
    let calls = flaky.calls.load(Ordering::SeqCst);
    let forged = support::tamper_signature(&token);
    assert!(matches!(
        block_on(closed.verify(&forged)),
        Err(Error::InvalidSignature)
    ));
    assert_eq!(flaky.calls.load(Ordering::SeqCst), calls);
}

/// A check that has to wait (a store without a local mirror): the verification is pending, and
/// its answer counts.
struct Waiting(RevocationList);

impl RevocationCheck for Waiting {
    fn check(&self, token: &TokenFacts<'_>, now: i64) -> RevocationFuture {
        let answer = self.0.find(token, now);
        RevocationFuture::new(async move {
            tokio::task::yield_now().await;
            Ok(answer)
        })
    }
}

#[tokio::test]
async fn a_check_that_waits_makes_the_verification_pending() {
    let list = RevocationList::new();
    let verifier = verifier_with(Waiting(list.clone()), FailureMode::FailClosed);
    let token = token(json!({"jti": "w-1"}));
    let started = verifier.start(&token);
    assert!(started.is_pending());
    assert!(started.await.is_ok());
    list.revoke_token("w-1", now() + 60);
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        Error::Revoked(Revoked::Token)
    );
}

#[test]
fn a_multi_issuer_route_applies_its_own_verifiers_check_on_hits_and_misses() {
    let list = RevocationList::new();
    let guarded = verifier_with(list.clone(), FailureMode::FailClosed);
    let multi = MultiIssuer::builder()
        .verifier(support::ISSUER, guarded)
        .build()
        .unwrap();
    let token = token(json!({"jti": "m-1"}));
    for _ in 0..3 {
        assert!(block_on(multi.verify(&token)).is_ok());
    }
    list.revoke_token("m-1", now() + 60);
    assert_eq!(
        block_on(multi.verify(&token)).unwrap_err(),
        Error::Revoked(Revoked::Token)
    );
    assert!(multi.token_cache_stats().unwrap().hits >= 2);
}
