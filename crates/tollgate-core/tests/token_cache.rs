//! The verified-token cache: hits skip the signature, never the rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use support::*;
use tollgate_core::{
    Algorithm, CryptoProvider, Error, KeyFuture, KeyRequest, KeySet, KeySource, StandardClaims,
    TokenCacheConfig, TokenVerifier, Verification, Verifier,
};

/// A key source whose keys can be replaced, counting lookups.
#[derive(Debug, Default)]
struct Swappable {
    keys: RwLock<KeySet>,
    lookups: AtomicUsize,
}

impl KeySource for Swappable {
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        KeyFuture::ready(
            self.keys
                .read()
                .unwrap()
                .find(request.kid, request.alg)
                .cloned(),
        )
    }
}

fn swappable() -> (Arc<Swappable>, Verifier) {
    let source = Arc::new(Swappable {
        keys: RwLock::new(key_set()),
        lookups: AtomicUsize::new(0),
    });
    let verifier = Verifier::new(
        policy().build().unwrap(),
        source.clone(),
        CryptoProvider::default(),
    );
    (source, verifier)
}

/// Verifies `token` twice: the second sighting admits it to the cache.
async fn cache(verifier: &Verifier, token: &str) {
    for _ in 0..2 {
        verifier.verify(token).await.unwrap();
    }
}

#[tokio::test]
async fn admitted_on_second_sighting_then_hits_without_key_lookup() {
    let (source, verifier) = swappable();
    let token = sign(Algorithm::RS256, &claims());
    verifier.verify(&token).await.unwrap();
    assert_eq!(
        verifier.token_cache_stats().unwrap().entries,
        0,
        "a token seen once is not stored"
    );
    for _ in 0..3 {
        verifier.verify(&token).await.unwrap();
    }
    assert_eq!(source.lookups.load(Ordering::Relaxed), 2);
    let stats = verifier.token_cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (2, 2, 1));
}

#[tokio::test]
async fn time_rules_are_reapplied_on_every_hit() {
    let (_, verifier) = swappable();
    let token = sign(
        Algorithm::ES256,
        &claims_with("exp", Some(json!(now() + 120))),
    );
    cache(&verifier, &token).await;
    let hits = verifier.token_cache_stats().unwrap().hits;
    let earlier = SystemTime::now() - Duration::from_secs(600);
    assert!(matches!(
        verifier.verify_at(&token, earlier).await,
        Err(Error::NotYetValid { .. })
    ));
    let later = SystemTime::now() + Duration::from_secs(600);
    assert!(matches!(
        verifier.verify_at(&token, later).await,
        Err(Error::Expired { .. })
    ));
    assert_eq!(
        verifier.token_cache_stats().unwrap().hits,
        hits + 1,
        "nbf re-checked on the entry; past exp + leeway the entry is dead and the full check answers"
    );
    assert_eq!(
        verifier.token_cache_stats().unwrap().entries,
        0,
        "expired entry dropped"
    );
}

#[tokio::test]
async fn entries_die_with_their_key() {
    let (source, verifier) = swappable();
    let token = sign(Algorithm::EdDSA, &claims());
    cache(&verifier, &token).await;
    assert_eq!(verifier.token_cache_stats().unwrap().entries, 1);
    // Rotate: the Ed25519 key leaves the set.
    let mut without_ed = KeySet::new();
    for key in key_set().iter().filter(|k| k.kid() != Some("ed")) {
        without_ed.push(key.clone());
    }
    *source.keys.write().unwrap() = without_ed;
    assert!(matches!(
        verifier.verify(&token).await,
        Err(Error::UnknownKey { .. })
    ));
}

#[tokio::test]
async fn tampered_spellings_never_hit() {
    let (_, verifier) = swappable();
    let token = sign(Algorithm::HS256, &claims());
    cache(&verifier, &token).await;
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = sig.as_bytes().to_vec();
    bytes[0] = if bytes[0] == b'A' { b'B' } else { b'A' };
    let forged = format!("{head}.{}", String::from_utf8(bytes).unwrap());
    assert_eq!(
        verifier.verify(&forged).await.err(),
        Some(Error::InvalidSignature)
    );
}

#[tokio::test]
async fn bounded_by_entries_and_token_size() {
    let verifier = default_verifier_with_cache(Some(TokenCacheConfig {
        max_entries: 32,
        max_ttl: Duration::from_secs(60),
        max_token_bytes: 1024,
    }));
    for i in 0..200 {
        let token = sign(
            Algorithm::HS256,
            &claims_with("jti", Some(json!(i.to_string()))),
        );
        cache(&verifier, &token).await;
    }
    let entries = verifier.token_cache_stats().unwrap().entries;
    assert!((16..=32).contains(&entries), "{entries}");
    let big = sign(
        Algorithm::HS256,
        &claims_with("pad", Some(json!("x".repeat(2000)))),
    );
    let before = verifier.token_cache_stats().unwrap();
    verifier.verify(&big).await.unwrap();
    verifier.verify(&big).await.unwrap();
    let after = verifier.token_cache_stats().unwrap();
    assert_eq!(
        after.hits, before.hits,
        "tokens over the size cap are not cached"
    );
}

#[tokio::test]
async fn shared_claims_are_one_allocation_per_token() {
    let verifier = default_verifier();
    let token = sign(Algorithm::ES256, &claims());
    let first = verifier.verify(&token).await.unwrap();
    first.claims::<Value>().unwrap();
    let second = verifier.verify(&token).await.unwrap();
    let third = verifier.verify(&token).await.unwrap();
    assert!(Arc::ptr_eq(
        &second.claims::<Value>().unwrap(),
        &third.claims::<Value>().unwrap()
    ));
    // Another type on the same entry still works.
    let typed = verifier.verify(&token).await.unwrap();
    assert_eq!(
        typed
            .claims::<StandardClaims>()
            .unwrap()
            .registered
            .sub
            .as_deref(),
        Some("user-1")
    );
}

#[tokio::test]
async fn caching_can_be_turned_off_and_never_crosses_policies() {
    let off = default_verifier_with_cache(None);
    assert!(off.token_cache_stats().is_none());
    let token = sign(Algorithm::ES256, &claims_with("aud", Some(json!("other"))));
    let lenient = verifier(
        tollgate_core::Validation::builder(Algorithm::ALL)
            .any_audience()
            .build()
            .unwrap(),
    );
    // Cached by the lenient verifier (second sighting): a cache shared across policies would
    // now answer for the strict one.
    cache(&lenient, &token).await;
    assert!(matches!(
        tollgate_core::testing::cached(&lenient, &token),
        Some(Ok(_))
    ));
    let strict = default_verifier();
    for _ in 0..3 {
        assert!(matches!(
            strict.verify(&token).await,
            Err(Error::WrongAudience { .. })
        ));
        assert!(tollgate_core::testing::cached(&strict, &token).is_none());
    }
    // With caching off nothing is ever cached, however often the token is seen.
    let valid = sign(Algorithm::ES256, &claims());
    for _ in 0..3 {
        off.verify(&valid).await.unwrap();
        assert!(tollgate_core::testing::cached(&off, &valid).is_none());
    }
}

#[tokio::test]
async fn cached_answers_synchronously_only_for_cached_tokens() {
    let verifier = default_verifier();
    let token = sign(Algorithm::RS256, &claims());
    assert!(
        tollgate_core::testing::cached(&verifier, &token).is_none(),
        "never seen"
    );
    verifier.verify(&token).await.unwrap();
    assert!(
        tollgate_core::testing::cached(&verifier, &token).is_none(),
        "seen once: not admitted"
    );
    let admitted = verifier.verify(&token).await.unwrap();
    let hit = tollgate_core::testing::cached(&verifier, &token)
        .unwrap()
        .unwrap();
    assert!(hit.ptr_eq(&admitted), "a hit hands out the cached entry");
    // Every full verification is one miss; `cached` adds hits only.
    let stats = verifier.token_cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses), (1, 2));
    // A different token, even one differing only in its signature, is not answered.
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(tollgate_core::testing::cached(&verifier, &forged).is_none());
    assert!(verifier.verify(&forged).await.is_err());
}

#[tokio::test]
async fn cached_refuses_a_token_that_expired_after_caching() {
    let verifier = default_verifier_with_cache(Some(TokenCacheConfig {
        max_ttl: Duration::from_secs(3600),
        ..TokenCacheConfig::default()
    }));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Expires within the leeway window used at `now`, then is checked again later.
    let token = sign(Algorithm::HS256, &claims_with("exp", Some(json!(now - 59))));
    cache(&verifier, &token).await;
    assert!(
        tollgate_core::testing::cached(&verifier, &token)
            .unwrap()
            .is_ok()
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        tollgate_core::testing::cached(&verifier, &token).is_none(),
        "an entry is never handed out past exp + leeway"
    );
    assert!(matches!(
        verifier.verify(&token).await,
        Err(Error::Expired { .. })
    ));
    assert_eq!(verifier.token_cache_stats().unwrap().entries, 0);
}

#[tokio::test]
async fn typed_views_are_shared_per_type_and_json_is_shared() {
    #[derive(serde::Deserialize)]
    struct Subject {
        sub: String,
    }
    let verifier = default_verifier();
    let token = sign(Algorithm::ES256, &claims());
    cache(&verifier, &token).await;
    let first = verifier.verify(&token).await.unwrap();
    let second = tollgate_core::testing::cached(&verifier, &token)
        .unwrap()
        .unwrap();
    let a = first.claims::<Subject>().unwrap();
    let b = second.claims::<Subject>().unwrap();
    assert!(
        Arc::ptr_eq(&a, &b),
        "one deserialization per token and type"
    );
    assert_eq!(a.sub, "user-1");
    let standard = second.claims::<StandardClaims>().unwrap();
    assert_eq!(standard.registered.sub.as_deref(), Some("user-1"));
    assert!(Arc::ptr_eq(
        &standard,
        &first.claims::<StandardClaims>().unwrap()
    ));
    assert_eq!(first.claims_json()["sub"], "user-1");
    assert_eq!(first.subject(), Some("user-1"));
    // A type the claims do not fit is a shape error, every time.
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct NeedsTenant {
        tenant: String,
    }
    assert!(matches!(
        first.claims::<NeedsTenant>(),
        Err(Error::ClaimsShape(_))
    ));
    assert!(matches!(
        second.claims::<NeedsTenant>(),
        Err(Error::ClaimsShape(_))
    ));
}

/// A key source that has to wait (like a JWKS fetch) before it answers.
#[derive(Debug)]
struct Waiting(KeySet);

impl KeySource for Waiting {
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        KeyFuture::new(async move {
            tokio::task::yield_now().await;
            self.0.find(request.kid, request.alg).cloned()
        })
    }
}

#[tokio::test]
async fn start_decides_without_waiting_or_says_pending() {
    // Keys at hand: a full verification completes synchronously, and refusals too.
    let verifier = default_verifier();
    let token = sign(Algorithm::RS256, &claims());
    assert!(verifier.start(&token).done().unwrap().is_ok());
    let expired = sign(
        Algorithm::RS256,
        &claims_with("exp", Some(json!(1_000_000))),
    );
    assert!(matches!(
        verifier.start(&expired).done(),
        Some(Err(Error::Expired { .. }))
    ));
    assert_eq!(verifier.token_cache_stats().unwrap().misses, 2);

    // Keys behind a wait: no answer now, nothing counted or cached; the async path works.
    let waiting = Verifier::new(
        policy().build().unwrap(),
        Waiting(key_set()),
        CryptoProvider::default(),
    );
    for _ in 0..3 {
        assert!(waiting.start(&token).done().is_none());
    }
    let stats = waiting.token_cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (0, 0, 0));
    waiting.verify(&token).await.unwrap();
    waiting.verify(&token).await.unwrap();
    // Cached now: answered without touching the waiting key source.
    assert!(waiting.start(&token).done().unwrap().is_ok());
}

#[tokio::test]
async fn remembered_headers_never_skip_the_signature() {
    let verifier = default_verifier_with_cache(None);
    let token = sign(Algorithm::RS256, &claims());
    verifier.verify(&token).await.unwrap();
    // Same header segment (now remembered), another payload under the old signature.
    let (head, rest) = token.split_once('.').unwrap();
    let signature = rest.rsplit_once('.').unwrap().1;
    let other = sign(Algorithm::RS256, &claims_with("sub", Some(json!("admin"))));
    let other_payload = other.split('.').nth(1).unwrap();
    let forged = format!("{head}.{other_payload}.{signature}");
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(Error::InvalidSignature)
    ));
    // The genuine token with that header still verifies, and another header is still checked.
    verifier.verify(&other).await.unwrap();
    // A header never seen is parsed and checked: `alg: none` is refused for what it is.
    let none = format!("eyJhbGciOiJub25lIn0.{other_payload}.");
    assert!(matches!(
        verifier.verify(&none).await,
        Err(Error::AlgNone { .. })
    ));
}

/// `start_presented`, the layer's entry point for raw header bytes, with the cache on and off:
/// the same answers as `start` for a token (a hit once it is cached), `None` and nothing
/// counted for bytes that are not a `b64token`, cached neighbour or not.
#[tokio::test]
async fn presented_bytes_are_answered_like_start_and_none_when_not_a_token() {
    for cache in [Some(TokenCacheConfig::default()), None] {
        let verifier = Verifier::builder(
            policy().build().unwrap(),
            key_set(),
            CryptoProvider::default(),
        )
        .token_cache(cache)
        .build();
        let token = sign(Algorithm::RS256, &claims());
        for _ in 0..3 {
            let Some(Verification::Done(Ok(verified))) = verifier.start_presented(token.as_bytes())
            else {
                panic!("a valid token, keys at hand");
            };
            assert_eq!(verified.subject(), Some("user-1"));
        }
        let stats = verifier.token_cache_stats();
        let counted = stats.map(|s| (s.hits, s.misses));
        assert_eq!(
            counted,
            cache.map(|_| (1, 2)),
            "admitted on the second sighting"
        );
        assert_no_answer_for_non_tokens(&verifier, &token);
        assert_eq!(verifier.token_cache_stats(), stats, "nothing counted");
        // A b64token that is not a JWS: refused as `start` refuses it.
        assert!(presented_like_start(&verifier, "a+b/c==").is_some());
    }
}

/// What lets a cache hit skip the grammar check: a token the verifier accepts is a `b64token`.
/// Every character outside base64url and `.`, in each segment of a valid token, is refused.
#[tokio::test]
async fn only_b64tokens_verify() {
    let (_, verifier) = swappable();
    let token = sign(Algorithm::HS256, &claims());
    let dots: Vec<usize> = token.match_indices('.').map(|(at, _)| at).collect();
    let positions = [0, dots[0] + 1, dots[1] + 1, token.len() - 1];
    for c in (0u8..0x80).filter(|c| !c.is_ascii_alphanumeric() && !b"-_.".contains(c)) {
        for &at in &positions {
            let mut mutated = token.as_bytes().to_vec();
            mutated[at] = c;
            let mutated = String::from_utf8(mutated).unwrap();
            assert!(
                verifier.verify(&mutated).await.is_err(),
                "{:?} at {at} verified",
                c as char
            );
        }
    }
    assert!(tollgate_core::bearer::is_b64token(token.as_bytes()));
}
