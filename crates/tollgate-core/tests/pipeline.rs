//! The two-phase pipeline (issue 13): a verification is decided synchronously whenever its key is
//! at hand, and one whose key source has to wait becomes a `'static` future that is the only
//! thing ever polling the key source. Nothing is polled to find out whether it would be ready,
//! so a cold JWKS is fetched, counted and reported exactly once; and the policy's bounds are
//! checked when it is built, not per request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::sync::Arc;

use serde_json::json;
#[cfg(feature = "remote")]
use support::server::Loopback;
use support::waiting::WaitingKeys;
use support::*;
use tollgate_core::{
    Algorithm, ConfigError, CryptoProvider, Error, KeyFuture, KeyRequest, KeySet, KeySource,
    MAX_REQUIRED_CLAIMS, MultiIssuer, TokenVerifier, Validation, Verification, Verifier,
};

fn counting() -> (Arc<WaitingKeys>, Verifier) {
    let source = Arc::new(WaitingKeys::default());
    let verifier = Verifier::new(
        policy().build().unwrap(),
        source.clone(),
        CryptoProvider::default(),
    );
    (source, verifier)
}

#[test]
fn key_future_readiness_is_known_without_polling() {
    let ready = KeyFuture::ready(Ok(Arc::new(
        tollgate_core::VerificationKey::hmac([7u8; 32]).unwrap(),
    )));
    assert!(ready.is_ready());
    assert!(ready.into_ready().unwrap().is_ok());

    let source = WaitingKeys::default();
    let pending = source.key(KeyRequest {
        kid: Some("rsa"),
        alg: Algorithm::RS256,
    });
    assert!(!pending.is_ready());
    let pending = pending.into_ready().unwrap_err();
    assert_eq!(source.polls(), 0, "into_ready polls nothing");
    // Handed back intact: it still answers when driven.
    assert!(block_on(pending).is_ok());
    assert_eq!(source.polls(), 2);
}

#[tokio::test]
async fn a_pending_verification_dropped_unfinished_never_polled_the_key_source() {
    let (source, verifier) = counting();
    let token = sign(Algorithm::RS256, &claims());
    for _ in 0..3 {
        let started = verifier.start(&token);
        assert!(started.is_pending());
        drop(started);
    }
    // `done()` drops a pending verification too.
    assert!(verifier.start(&token).done().is_none());
    assert_eq!(source.polls(), 0, "no future of the verifier was polled");
    let stats = verifier.token_cache_stats().unwrap();
    assert_eq!(
        (stats.hits, stats.misses),
        (0, 0),
        "nothing ran, nothing counted"
    );

    // The same through the trait object a layer holds.
    let shared: Arc<dyn TokenVerifier> = Arc::new(verifier.clone());
    drop(shared.start(&token));
    assert_eq!(source.polls(), 0);

    // A pending verification that is driven: its own lookup, and only it, is polled.
    let asked_before = source.asked();
    let pending = verifier.start(&token);
    let Verification::Pending(pending) = pending else {
        panic!("the source has to wait");
    };
    assert_eq!(source.polls(), 0);
    let verified = pending.await.unwrap();
    assert_eq!(verified.subject(), Some("user-1"));
    assert_eq!(source.polls(), 2, "pending once, then ready");
    // Asked once synchronously (dropped unpolled), once by the future that was driven.
    assert_eq!(source.asked() - asked_before, 2);
    assert_eq!(verifier.token_cache_stats().unwrap().misses, 1);
}

#[tokio::test]
async fn a_pending_verification_owns_its_token_and_outlives_the_verifier_handle() {
    let (_, verifier) = counting();
    let pending = {
        let token = sign(Algorithm::RS256, &claims());
        let verifier = verifier.clone();
        let started = verifier.start(&token);
        drop((token, verifier));
        started
    };
    fn is_static_send<T: Send + 'static>(_: &T) {}
    is_static_send(&pending);
    // Spawned: needs `Send + 'static`.
    let verified = tokio::spawn(async move { pending.await }).await.unwrap();
    assert!(verified.is_ok());
    // Refusals found after the wait come from the pending future too, with the same errors.
    let forged = tamper_signature(&sign(Algorithm::RS256, &claims()));
    assert!(verifier.start(&forged).is_pending());
    assert_eq!(
        verifier.start(&forged).await.unwrap_err(),
        Error::InvalidSignature
    );
}

#[tokio::test]
async fn keys_at_hand_decide_synchronously_and_refusals_before_the_key_lookup_too() {
    let verifier = default_verifier();
    let token = sign(Algorithm::ES256, &claims());
    assert!(matches!(verifier.start(&token), Verification::Done(Ok(_))));
    // Refused before any key is asked for, even with a key source that would wait.
    let (source, waiting) = counting();
    for bad in ["", "a.b", "not.a.token", "eyJhbGciOiJub25lIn0.e30."] {
        assert!(
            matches!(waiting.start(bad), Verification::Done(Err(_))),
            "{bad:?}"
        );
    }
    assert_eq!(source.asked(), 0);
    // Counted once each (they ran as far as they could), never twice.
    assert_eq!(waiting.token_cache_stats().unwrap().misses, 4);
}

#[cfg(feature = "remote")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_jwks_fetch_is_counted_once_in_stats_metrics_and_on_the_server() {
    let server = Loopback::json("/jwks", &jwks_value()).await;
    let metrics = Arc::new(tollgate_core::testing::CountingJwksMetrics::default());
    let source = tollgate_core::remote::JwksSource::builder(server.url("/jwks"))
        .metrics(metrics.clone())
        .build()
        .unwrap();
    let verifier = Verifier::new(
        policy().build().unwrap(),
        source.clone(),
        CryptoProvider::default(),
    );
    let token = sign(Algorithm::RS256, &claims());

    // Asked and dropped, as a fast path that cannot finish would: nothing fetched or counted.
    assert!(verifier.start(&token).done().is_none());
    tokio::task::yield_now().await;
    assert_eq!(server.hits("/jwks"), 0);
    assert_eq!(source.stats().fetches, 0);
    assert_eq!(metrics.fetches(), 0);

    // Concurrent cold verifications (all started before any is driven): one fetch between them.
    let started: Vec<_> = (0..8).map(|_| verifier.start(&token)).collect();
    assert!(started.iter().all(Verification::is_pending));
    let tasks: Vec<_> = started
        .into_iter()
        .map(|started| tokio::spawn(async move { started.await }))
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(server.hits("/jwks"), 1, "the key server saw one request");
    assert_eq!(source.stats().fetches, 1, "counted once");
    assert_eq!(metrics.fetches(), 1, "reported once");
    let misses = verifier.token_cache_stats().unwrap().misses;
    assert_eq!(misses, 8, "one miss per verification that ran");

    // Keys fresh now: decided synchronously, no further fetch.
    assert!(matches!(verifier.start(&token), Verification::Done(Ok(_))));
    assert_eq!(server.hits("/jwks"), 1);
    assert_eq!(source.stats().fetches, 1);
}

#[cfg(feature = "remote")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_jwks_fetch_through_a_multi_issuer_is_counted_once() {
    let server = Loopback::json("/jwks", &jwks_value()).await;
    let source = tollgate_core::remote::JwksSource::builder(server.url("/jwks"))
        .build()
        .unwrap();
    let router = MultiIssuer::builder()
        .issuer(ISSUER, policy().build().unwrap(), source.clone())
        .build()
        .unwrap();
    let token = sign(Algorithm::RS256, &claims());
    assert!(router.start(&token).done().is_none());
    assert_eq!((server.hits("/jwks"), source.stats().fetches), (0, 0));
    router.verify(&token).await.unwrap();
    assert_eq!((server.hits("/jwks"), source.stats().fetches), (1, 1));
}

#[test]
fn required_claims_are_bounded_when_the_policy_is_built() {
    let names: Vec<String> = (0..=MAX_REQUIRED_CLAIMS).map(|i| format!("c{i}")).collect();
    let too_many = names.iter().fold(policy(), |builder, name| {
        builder.require_claim(name.clone())
    });
    assert_eq!(
        too_many.build().unwrap_err(),
        ConfigError::TooManyRequiredClaims(MAX_REQUIRED_CLAIMS + 1)
    );
    // Exactly the maximum is fine, and a name listed twice counts once.
    let at_most = names[..MAX_REQUIRED_CLAIMS]
        .iter()
        .fold(policy(), |builder, name| {
            builder.require_claim(name.clone())
        })
        .require_claim("c0");
    let validation = at_most.build().unwrap();
    let verifier = Verifier::new(validation, key_set(), CryptoProvider::default());

    // Every one of the 128 is checked, the last one included.
    let mut all = claims();
    for name in &names[..MAX_REQUIRED_CLAIMS] {
        all[name.as_str()] = json!(1);
    }
    let token = sign(Algorithm::ES256, &all);
    assert!(verifier.start(&token).done().unwrap().is_ok());
    for missing in ["c0", "c63", "c64", "c127"] {
        let mut claims = all.clone();
        claims.as_object_mut().unwrap().remove(missing);
        let token = sign(Algorithm::ES256, &claims);
        assert_eq!(
            verifier.start(&token).done().unwrap().unwrap_err(),
            Error::MissingClaim(missing.into()),
        );
    }
}

#[test]
fn a_required_claim_listed_twice_is_satisfied_once_present() {
    let validation = policy()
        .require_claim("jti")
        .require_claim("jti")
        .build()
        .unwrap();
    let verifier = Verifier::new(validation, key_set(), CryptoProvider::default());
    let token = sign(Algorithm::ES256, &claims_with("jti", Some(json!("id-1"))));
    assert!(verifier.start(&token).done().unwrap().is_ok());
    let token = sign(Algorithm::ES256, &claims());
    assert_eq!(
        verifier.start(&token).done().unwrap().unwrap_err(),
        Error::MissingClaim("jti".into())
    );
}

#[test]
fn the_old_paths_still_name_the_moved_types() {
    #[cfg(feature = "remote")]
    {
        fn same<T>(_: fn() -> T, _: fn() -> T) {}
        same(
            tollgate_core::remote::MultiIssuer::builder,
            tollgate_core::MultiIssuer::builder,
        );
    }
    // Without `remote` too: the router does no I/O of its own.
    assert!(MultiIssuer::builder().build().is_err());
    let _: Option<&tollgate_core::TokenHeader> = None;
    let _: Validation = Validation::builder([Algorithm::HS256])
        .any_audience()
        .build()
        .unwrap();
    let _: KeySet = KeySet::new();
}
