//! `MultiIssuer` (no I/O of its own, so no `remote` feature needed): its verified-token cache is
//! asked before the token is decoded, so a hit costs what a single verifier's hit costs; an entry
//! is judged by the verifier of the issuer that verified it, and a token verified under one
//! issuer never answers for another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Map, Value, json};
use support::*;
use tollgate_core::{
    Algorithm, ConfigError, CryptoProvider, DEFAULT_CACHE_ENTRIES, Error, KeyFuture, KeyRequest,
    KeySet, KeySource, MultiIssuer, StandardClaims, TokenCacheConfig, TokenVerifier, Validation,
    Verification, Verifier,
};

const ONE: &str = "https://one.example.com";
const TWO: &str = "https://two.example.com";

/// The test keys, counting lookups.
#[derive(Debug)]
struct Counted {
    keys: KeySet,
    asked: AtomicUsize,
}

impl Counted {
    fn new() -> Arc<Counted> {
        Arc::new(Counted {
            keys: key_set(),
            asked: AtomicUsize::new(0),
        })
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl KeySource for Counted {
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        KeyFuture::ready(self.keys.find(request.kid, request.alg).cloned())
    }
}

fn policy_for(issuer: &str, audience: &str) -> Validation {
    Validation::builder(Algorithm::ALL)
        .issuer(issuer)
        .audience(audience)
        .build()
        .unwrap()
}

fn token(issuer: &str, audience: &str) -> String {
    let mut claims = claims();
    claims["iss"] = json!(issuer);
    claims["aud"] = json!(audience);
    sign(Algorithm::ES256, &claims)
}

#[tokio::test]
async fn cache_hits_need_no_routing_and_no_key_lookup() {
    let (one, two) = (Counted::new(), Counted::new());
    let router = MultiIssuer::builder()
        .issuer(ONE, policy_for(ONE, AUDIENCE), one.clone())
        .issuer(TWO, policy_for(TWO, AUDIENCE), two.clone())
        .build()
        .unwrap();
    let (a, b) = (token(ONE, AUDIENCE), token(TWO, AUDIENCE));
    for _ in 0..2 {
        router.verify(&a).await.unwrap();
        router.verify(&b).await.unwrap();
    }
    assert_eq!((one.asked(), two.asked()), (2, 2), "seen twice: admitted");
    let first = router.verify(&a).await.unwrap();
    for _ in 0..5 {
        let Verification::Done(Ok(hit)) = router.start(&a) else {
            panic!("a cached token is decided at once");
        };
        assert!(hit.ptr_eq(&first), "the one shared entry");
        assert_eq!(hit.issuer(), Some(ONE));
        let verified = router.verify(&b).await.unwrap();
        assert_eq!(
            verified
                .claims::<StandardClaims>()
                .unwrap()
                .registered
                .iss
                .as_deref(),
            Some(TWO)
        );
    }
    assert_eq!(
        (one.asked(), two.asked()),
        (2, 2),
        "hits asked no key source"
    );
    let stats = router.token_cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (11, 4, 2));
    // The routed verifiers' own caches are not used for tokens verified through the router.
    let own = router.route(&a).unwrap().token_cache_stats().unwrap();
    assert_eq!((own.hits, own.misses), (0, 0));
}

#[tokio::test]
async fn a_token_verified_for_one_issuer_never_answers_for_another() {
    // Both issuers trust the same keys; only their policies differ.
    let router = MultiIssuer::builder()
        .issuer(ONE, policy_for(ONE, AUDIENCE), key_set())
        .issuer(TWO, policy_for(TWO, "another-api"), key_set())
        .build()
        .unwrap();
    let for_one = token(ONE, AUDIENCE);
    for _ in 0..3 {
        router.verify(&for_one).await.unwrap();
    }
    // The same claims under issuer two's name: two's policy decides, every time.
    let for_two = token(TWO, AUDIENCE);
    for _ in 0..3 {
        let err = router.verify(&for_two).await.unwrap_err();
        assert!(matches!(err, Error::WrongAudience { .. }), "{err:?}");
    }
    // One's cached token still verifies, from the cache.
    let hits = router.token_cache_stats().unwrap().hits;
    router.verify(&for_one).await.unwrap();
    assert_eq!(router.token_cache_stats().unwrap().hits, hits + 1);
    // A token that differs from the cached one anywhere is not answered by its entry.
    let forged = tamper_signature(&for_one);
    assert_eq!(
        router.verify(&forged).await.unwrap_err(),
        Error::InvalidSignature
    );
}

#[tokio::test]
async fn a_hit_is_judged_by_the_checks_of_the_issuer_that_verified_it() {
    let denied = Arc::new(AtomicBool::new(false));
    let check = {
        let denied = denied.clone();
        move |_: &Map<String, Value>| {
            if denied.load(Ordering::SeqCst) {
                Err("denied".to_owned())
            } else {
                Ok(())
            }
        }
    };
    let one_policy = Validation::builder(Algorithm::ALL)
        .issuer(ONE)
        .audience(AUDIENCE)
        .check(check)
        .build()
        .unwrap();
    let router = MultiIssuer::builder()
        .issuer(ONE, one_policy, key_set())
        .issuer(TWO, policy_for(TWO, AUDIENCE), key_set())
        .build()
        .unwrap();
    let (a, b) = (token(ONE, AUDIENCE), token(TWO, AUDIENCE));
    for _ in 0..3 {
        router.verify(&a).await.unwrap();
        router.verify(&b).await.unwrap();
    }
    denied.store(true, Ordering::SeqCst);
    let hits = router.token_cache_stats().unwrap().hits;
    assert!(matches!(
        router.start(&a).done(),
        Some(Err(Error::ClaimCheck(_)))
    ));
    assert!(
        router.start(&b).done().unwrap().is_ok(),
        "two has no such check"
    );
    assert_eq!(router.token_cache_stats().unwrap().hits, hits + 2);
    denied.store(false, Ordering::SeqCst);
    assert!(router.start(&a).done().unwrap().is_ok());
}

#[tokio::test]
async fn a_routed_verifier_without_a_cache_keeps_its_tokens_out_of_the_routers() {
    let one = Counted::new();
    let uncached = Verifier::builder(
        policy_for(ONE, AUDIENCE),
        one.clone(),
        CryptoProvider::default(),
    )
    .token_cache(None)
    .build();
    let router = MultiIssuer::builder()
        .verifier(ONE, uncached)
        .issuer(TWO, policy_for(TWO, AUDIENCE), key_set())
        .build()
        .unwrap();
    let a = token(ONE, AUDIENCE);
    for _ in 0..4 {
        router.verify(&a).await.unwrap();
    }
    assert_eq!(one.asked(), 4, "verified in full every time");
    let stats = router.token_cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (0, 4, 0));
}

#[tokio::test]
async fn without_the_routers_cache_the_routed_verifiers_cache_answers() {
    let router = MultiIssuer::builder()
        .token_cache(None)
        .issuer(ONE, policy_for(ONE, AUDIENCE), key_set())
        .build()
        .unwrap();
    assert!(router.token_cache_stats().is_none());
    let a = token(ONE, AUDIENCE);
    for _ in 0..3 {
        router.verify(&a).await.unwrap();
    }
    let own = router.route(&a).unwrap().token_cache_stats().unwrap();
    assert_eq!((own.hits, own.misses), (1, 2));
}

#[tokio::test]
async fn unknown_issuers_are_refused_before_any_key_lookup() {
    let one = Counted::new();
    let router = MultiIssuer::builder()
        .token_cache(Some(TokenCacheConfig::default()))
        .issuer(ONE, policy_for(ONE, AUDIENCE), one.clone())
        .build()
        .unwrap();
    for _ in 0..3 {
        let err = router
            .verify(&token("https://evil.example.com", AUDIENCE))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::WrongIssuer { .. }), "{err:?}");
        assert!(matches!(
            router.start("garbage"),
            Verification::Done(Err(Error::Malformed(_)))
        ));
    }
    assert_eq!(one.asked(), 0);
    let shared: Arc<dyn TokenVerifier> = Arc::new(router);
    assert!(shared.verify(&token(ONE, AUDIENCE)).await.is_ok());
}

#[tokio::test]
async fn tenant_routes_are_cached_like_exact_ones() {
    let tenant = "11111111-2222-3333-4444-555555555555";
    let keys = Counted::new();
    let router = MultiIssuer::builder()
        .entra_id(
            [tenant],
            Validation::builder(Algorithm::ALL)
                .audience(AUDIENCE)
                .build()
                .unwrap(),
            keys.clone(),
        )
        .build()
        .unwrap();
    let mut claims = claims();
    claims["iss"] = json!(format!("https://login.microsoftonline.com/{tenant}/v2.0"));
    claims["tid"] = json!(tenant);
    let token = sign(Algorithm::ES256, &claims);
    for _ in 0..4 {
        router.verify(&token).await.unwrap();
    }
    assert_eq!(keys.asked(), 2);
    // The same token with another (unlisted) tenant's claims is refused by the routing.
    claims["tid"] = json!("99999999-2222-3333-4444-555555555555");
    let other = sign(Algorithm::ES256, &claims);
    assert!(matches!(
        router.verify(&other).await,
        Err(Error::WrongIssuer { .. })
    ));
}

#[test]
fn the_configuration_is_checked_when_built() {
    assert!(matches!(
        MultiIssuer::builder().build(),
        Err(ConfigError::Routing(_))
    ));
    assert!(matches!(
        MultiIssuer::builder()
            .issuer(ONE, policy_for(ONE, AUDIENCE), key_set())
            .issuer(ONE, policy_for(ONE, AUDIENCE), key_set())
            .build(),
        Err(ConfigError::Routing(_))
    ));
    assert!(matches!(
        MultiIssuer::builder()
            .issuer("", policy_for(ONE, AUDIENCE), key_set())
            .build(),
        Err(ConfigError::EmptyValue(_))
    ));
    for template in [
        "https://login.example.com/v2.0",
        "{tenantid}/v2.0",
        "https://a/{tenantid}/{tenantid}",
    ] {
        assert!(
            matches!(
                MultiIssuer::builder()
                    .tenant_issuer(template, "tid", ["t"], policy_for(ONE, AUDIENCE), key_set())
                    .build(),
                Err(ConfigError::IssuerTemplate(_))
            ),
            "{template}"
        );
    }
    let tenants: [[&str; 1]; 2] = [[""], ["a/b"]];
    for list in tenants {
        assert!(matches!(
            MultiIssuer::builder()
                .tenant_issuer(
                    "https://a/{tenantid}",
                    "tid",
                    list,
                    policy_for(ONE, AUDIENCE),
                    key_set()
                )
                .build(),
            Err(ConfigError::Routing(_))
        ));
    }
    let empty: [&str; 0] = [];
    assert!(
        MultiIssuer::builder()
            .tenant_issuer(
                "https://a/{tenantid}",
                "tid",
                empty,
                policy_for(ONE, AUDIENCE),
                key_set()
            )
            .build()
            .is_err()
    );
}

/// One shared cache holds what one default cache per issuer held: with less room the issuers'
/// users would evict each other (seen as a lower hit rate in the two-issuer Zipf benchmark).
#[test]
fn the_default_shared_cache_has_room_for_every_issuer() {
    let two = MultiIssuer::builder()
        .issuer(ONE, policy_for(ONE, AUDIENCE), key_set())
        .issuer(TWO, policy_for(TWO, AUDIENCE), key_set())
        .build()
        .unwrap();
    let stats = two.token_cache_stats().unwrap();
    assert_eq!(stats.capacity, 2 * DEFAULT_CACHE_ENTRIES);
    assert_eq!(stats.entries, 0);

    // An explicit configuration is taken as given.
    let explicit = MultiIssuer::builder()
        .issuer(ONE, policy_for(ONE, AUDIENCE), key_set())
        .issuer(TWO, policy_for(TWO, AUDIENCE), key_set())
        .token_cache(Some(TokenCacheConfig {
            max_entries: 500,
            ..TokenCacheConfig::default()
        }))
        .build()
        .unwrap();
    assert_eq!(explicit.token_cache_stats().unwrap().capacity, 500);
    let off = MultiIssuer::builder()
        .issuer(ONE, policy_for(ONE, AUDIENCE), key_set())
        .token_cache(None)
        .build()
        .unwrap();
    assert!(off.token_cache_stats().is_none());
}

/// `start_presented` through the router, with its cache on and off: a token's answer is what
/// `start` gives (a hit once cached, routed by issuer), bytes that are not a `b64token` are
/// `None` and counted nowhere.
#[tokio::test]
async fn presented_bytes_are_answered_like_start_and_none_when_not_a_token() {
    for cache in [Some(TokenCacheConfig::default()), None] {
        let router = MultiIssuer::builder()
            .issuer(ONE, policy_for(ONE, AUDIENCE), key_set())
            .issuer(TWO, policy_for(TWO, AUDIENCE), key_set())
            .token_cache(cache)
            .build()
            .unwrap();
        let (a, b) = (token(ONE, AUDIENCE), token(TWO, AUDIENCE));
        for _ in 0..3 {
            for (token, issuer) in [(&a, ONE), (&b, TWO)] {
                let Some(Verification::Done(Ok(verified))) =
                    router.start_presented(token.as_bytes())
                else {
                    panic!("a valid token, keys at hand");
                };
                assert_eq!(verified.issuer(), Some(issuer));
            }
        }
        let stats = router.token_cache_stats();
        let counted = stats.map(|s| (s.hits, s.misses));
        assert_eq!(
            counted,
            cache.map(|_| (2, 4)),
            "each admitted on its second sighting"
        );
        assert_no_answer_for_non_tokens(&router, &a);
        assert_eq!(router.token_cache_stats(), stats, "nothing counted");
        let unknown = token("https://unknown.example.com", AUDIENCE);
        let refused = presented_like_start(&router, &unknown);
        assert!(
            matches!(refused, Some(Error::WrongIssuer { .. })),
            "{refused:?}"
        );
    }
}
