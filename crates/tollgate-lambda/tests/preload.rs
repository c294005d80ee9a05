//! Preloaded keys are the initial state of the lazy source, not a permanent override: a key the
//! issuer withdrew stops verifying when the set is next refreshed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use support::server::Loopback;
use support::*;
use tollgate::core::remote::JwksSource;
use tollgate::core::{
    Algorithm, CryptoProvider, Error, KeyFuture, KeyLookupError, KeyRequest, KeySet, KeySource,
    Verifier,
};
use tollgate_lambda::PreloadedKeys;
use tollgate_lambda::preload::PRELOAD_TTL;

/// K1: the EC P-256 test key as kid `old`, the key set baked into the function's configuration.
fn old_jwks() -> Value {
    let (x, y) = ec_xy(&keys().ec256);
    json!({"keys": [
        {"kty": "EC", "kid": "old", "crv": "P-256", "alg": "ES256", "x": b64(&x), "y": b64(&y)}
    ]})
}

/// K2: the RSA test key as kid `new`, all the issuer publishes now (K1 was withdrawn).
fn new_jwks() -> Value {
    let (n, e) = rsa_components();
    json!({"keys": [
        {"kty": "RSA", "kid": "new", "alg": "RS256", "use": "sig", "n": b64(&n), "e": b64(&e)}
    ]})
}

fn old_token(jti: &str) -> String {
    let header = json!({"alg": "ES256", "kid": "old", "typ": "JWT"});
    sign_raw(
        Algorithm::ES256,
        &header.to_string(),
        &claims_with("jti", Some(json!(jti))).to_string(),
    )
}

fn new_token() -> String {
    let header = json!({"alg": "RS256", "kid": "new", "typ": "JWT"});
    sign_raw(Algorithm::RS256, &header.to_string(), &claims().to_string())
}

fn old_keys() -> KeySet {
    KeySet::from_jwks(&old_jwks().to_string()).unwrap()
}

/// A JWKS endpoint on 127.0.0.1 serving only K2 (no `Cache-Control`, so the source's fallback
/// TTL applies), counting its fetches.
async fn new_keys_server() -> (String, Arc<AtomicUsize>) {
    let server = Loopback::json("/jwks.json", &new_jwks()).await;
    (server.url("/jwks.json"), server.hit_counter())
}

/// Regression: `PreloadedKeys` used to answer from the preloaded set first, forever, so K1 kept
/// verifying for the life of the container however often the JWKS was refreshed. (Checked by
/// putting the earlier `preload.rs` back: the K1 token was still accepted after the refresh,
/// and the assertion on `UnknownKey` failed.) Now the preloaded set is the `JwksSource`'s initial
/// cache state, fresh for its TTL (here 1 s) and then refreshed like a fetched set.
#[tokio::test]
async fn preloaded_keys_are_refreshed_by_the_jwks_source() {
    let (url, hits) = new_keys_server().await;
    let jwks = JwksSource::builder(&url)
        .allow_insecure_http(true)
        .ttl_bounds(Duration::from_secs(1), Duration::from_secs(1))
        .stale_if_error(Duration::ZERO)
        .build()
        .unwrap();
    let source = PreloadedKeys::new(old_keys(), jwks);
    assert!(
        source.preloaded().is_none(),
        "the JwksSource took the preloaded set as its cache: nothing is kept in front"
    );
    assert_eq!(
        source.fallback().cached_keys().map(|keys| keys.len()),
        Some(1),
        "the preloaded set is the source's cache"
    );
    let verifier = Verifier::new(policy().build().unwrap(), source, CryptoProvider::default());

    // Cold start: K1 verifies from the preloaded set, nothing fetched.
    let first = old_token("first");
    verifier.verify(&first).await.unwrap();
    verifier.verify(&old_token("second")).await.unwrap();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "served from the preloaded set"
    );

    // Past the TTL the set is refreshed from the issuer, which no longer publishes K1: the same
    // token (not answered by the verified-token cache either) and a new one are refused.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for token in [first, old_token("third")] {
        let err = verifier.verify(&token).await.unwrap_err();
        assert!(
            matches!(&err, Error::UnknownKey { kid } if kid == "old"),
            "K1 refused after the refresh: {err:?}"
        );
    }
    let fetches = hits.load(Ordering::SeqCst);
    assert!(fetches >= 1, "the set was refreshed");
    verifier.verify(&new_token()).await.unwrap();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        fetches,
        "K2 came with the refreshed set"
    );
}

/// A fallback that cannot take preloaded keys (the default [`KeySource::preload`]): it answers
/// every kid it is asked for with K2 and counts the questions.
#[derive(Debug, Default)]
struct Counting {
    asked: AtomicUsize,
}

impl KeySource for Counting {
    fn key<'a>(&'a self, request: KeyRequest<'a>) -> KeyFuture<'a> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let keys = KeySet::from_jwks(&new_jwks().to_string()).unwrap();
        let found = keys.find(request.kid, request.alg).cloned();
        KeyFuture::ready(found.map_err(|_| KeyLookupError::UnknownKid {
            kid: request.kid.unwrap_or_default().to_owned(),
        }))
    }
}

/// A fallback that takes them (as a `JwksSource` does).
#[derive(Debug, Default)]
struct Taking {
    took: std::sync::Mutex<Option<KeySet>>,
}

impl KeySource for Taking {
    fn key<'a>(&'a self, _: KeyRequest<'a>) -> KeyFuture<'a> {
        KeyFuture::ready(Err(KeyLookupError::Unavailable("test double".into())))
    }

    fn preload(&self, keys: KeySet) -> Result<(), KeySet> {
        *self.took.lock().unwrap() = Some(keys);
        Ok(())
    }
}

/// Before [`PRELOAD_TTL`] (10 minutes, too long to wait for here) the preloaded keys stay in
/// front of a fallback that cannot take them: a known kid is answered without asking it, a
/// token that key refuses is refused without asking it, an unknown kid goes to it. The
/// accessor reports what is kept in front.
#[tokio::test]
async fn a_fallback_that_cannot_take_preloads_keeps_them_in_front_for_the_preload_ttl() {
    assert_eq!(PRELOAD_TTL, Duration::from_secs(600));
    let source = Arc::new(PreloadedKeys::new(old_keys(), Counting::default()));
    let in_front = source.preloaded().expect("kept in front of the fallback");
    assert_eq!(in_front.len(), 1);
    assert!(in_front.find(Some("old"), Algorithm::ES256).is_ok());
    assert!(
        source.still_trusted(),
        "keys in front are trusted until the TTL"
    );

    let verifier = Verifier::new(
        policy().build().unwrap(),
        source.clone(),
        CryptoProvider::default(),
    );
    verifier.verify(&old_token("a")).await.unwrap();
    let forged = tamper_signature(&old_token("b"));
    assert!(matches!(
        verifier.verify(&forged).await.unwrap_err(),
        Error::InvalidSignature
    ));
    assert_eq!(source.fallback().asked.load(Ordering::SeqCst), 0);
    verifier.verify(&new_token()).await.unwrap();
    assert_eq!(
        source.fallback().asked.load(Ordering::SeqCst),
        1,
        "a kid the preloaded set lacks goes to the fallback"
    );
}

#[test]
fn preloaded_is_none_when_the_fallback_took_the_keys_or_there_were_none() {
    let source = PreloadedKeys::new(old_keys(), Taking::default());
    assert!(source.preloaded().is_none());
    let took = source.fallback().took.lock().unwrap();
    assert_eq!(took.as_ref().map(KeySet::len), Some(1));
    drop(took);

    let source = PreloadedKeys::new(KeySet::new(), Counting::default());
    assert!(source.preloaded().is_none(), "an empty set is not kept");
}
