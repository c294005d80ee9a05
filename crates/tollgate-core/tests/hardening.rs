//! Regression tests for the audit findings (issue 14): each failed before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use support::server::{Fault, FaultServer};
use support::*;
use tollgate_core::remote::{JwksSource, MAX_TIMING_OPTION};
use tollgate_core::{
    Algorithm, CryptoProvider, Error, Malformed, StandardClaims, TokenCacheConfig, Validation,
    Verifier,
};
use tollgate_test_support as support;

/// A JWKS endpoint whose document and status can change mid-test, counting requests: the key
/// set of the shared `FaultServer`, without its default `Cache-Control`.
struct KeyServer {
    url: String,
    server: Arc<FaultServer>,
}

impl KeyServer {
    async fn start(body: Value) -> Arc<KeyServer> {
        let server = FaultServer::start().await;
        server.configure(|c| {
            c.good_jwks = body.to_string();
            c.jwks_cache_control = None;
        });
        Arc::new(KeyServer {
            url: server.url("/jwks"),
            server,
        })
    }

    /// Answers with the document (200) or with this status.
    fn set_status(&self, status: u16) {
        let fault = match status {
            200 => Fault::Good,
            other => Fault::Status(other),
        };
        self.server.set_jwks(fault);
    }

    fn set_body(&self, body: &Value) {
        self.server.set_good_jwks(body.to_string());
    }

    fn set_cache_control(&self, value: &str) {
        self.server
            .configure(|c| c.jwks_cache_control = Some(value.to_owned()));
    }

    fn hits(&self) -> usize {
        self.server.jwks_hits()
    }
}

/// The test RSA key as a JWKS, under each of `kids`.
fn rsa_jwks(kids: &[&str]) -> Value {
    let (n, e) = rsa_components();
    let keys: Vec<Value> = kids
        .iter()
        .map(|kid| json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&n), "e": b64(&e)}))
        .collect();
    json!({ "keys": keys })
}

/// An RS256 token with header `kid` and the exact payload text.
fn rs256(kid: &str, payload: &str) -> String {
    sign_raw(
        Algorithm::RS256,
        &json!({"alg": "RS256", "kid": kid}).to_string(),
        payload,
    )
}

fn payload_with(member: &str) -> String {
    let base = claims().to_string();
    format!("{},{member}}}", &base[..base.len() - 1])
}

// Defect 1: every view of a token agrees, or the token is refused.
#[tokio::test]
async fn unreadable_payload_members_refuse_the_token_instead_of_emptying_its_claims() {
    let verifier = Verifier::new(
        policy().build().unwrap(),
        key_set(),
        CryptoProvider::default(),
    );
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    for member in [
        r#""x":"\ud800""#.to_owned(),
        r#""x":"\udc00\ud800""#.to_owned(),
        r#""x":1e400"#.to_owned(),
        r#""x":-1e400"#.to_owned(),
        format!(r#""x":{deep}"#),
    ] {
        let token = rs256("rsa", &payload_with(&member));
        let result = verifier.verify(&token).await;
        assert!(
            matches!(result, Err(Error::Malformed(Malformed::UnreadableClaims))),
            "{member}: {result:?}"
        );
    }
    // A readable payload: the JSON view, the typed view and the registered claims agree.
    let token = rs256("rsa", &payload_with(r#""x":"\ud83d\ude00","n":1e300"#));
    let verified = verifier.verify(&token).await.unwrap();
    let typed = verified.claims::<StandardClaims>().unwrap();
    assert_eq!(verified.claims_json()["sub"], "user-1");
    assert_eq!(typed.registered.sub.as_deref(), Some("user-1"));
    assert_eq!(verified.subject(), Some("user-1"));
    assert_eq!(verified.claims_json()["x"], "\u{1F600}");
    assert_eq!(verified.roles(), ["user"]);
}

// Defect 2: custom checks run on cache hits too.
#[tokio::test]
async fn custom_checks_are_re_run_on_cache_hits() {
    let denied: Arc<Mutex<HashSet<String>>> = Arc::default();
    let denylist = denied.clone();
    let policy = policy()
        .check(move |claims: &Map<String, Value>| {
            let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
            if denylist.lock().unwrap().contains(sub) {
                Err(format!("{sub} is denied"))
            } else {
                Ok(())
            }
        })
        .build()
        .unwrap();
    let verifier = Verifier::new(policy, key_set(), CryptoProvider::default());
    let token = sign(Algorithm::ES256, &claims());
    for _ in 0..3 {
        verifier.verify(&token).await.unwrap();
    }
    assert!(
        matches!(
            tollgate_core::testing::cached(&verifier, &token),
            Some(Ok(_))
        ),
        "cached"
    );
    denied.lock().unwrap().insert("user-1".into());
    assert!(matches!(
        verifier.verify(&token).await,
        Err(Error::ClaimCheck(_))
    ));
    assert!(matches!(
        verifier.start(&token).done(),
        Some(Err(Error::ClaimCheck(_)))
    ));
    denied.lock().unwrap().clear();
    verifier.verify(&token).await.unwrap();
}

// Defect 4: a cached token is not accepted once its key source fails closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_tokens_fail_closed_with_their_key_source() {
    let server = KeyServer::start(rsa_jwks(&["rsa"])).await;
    let source = JwksSource::builder(&server.url)
        .ttl_bounds(Duration::from_secs(1), Duration::from_secs(1))
        .stale_if_error(Duration::from_millis(500))
        .retry_backoff(Duration::from_millis(50), Duration::from_millis(100))
        .build()
        .unwrap();
    let verifier = Verifier::new(policy().build().unwrap(), source, CryptoProvider::default());
    let token = sign(Algorithm::RS256, &claims());
    for _ in 0..3 {
        verifier.verify(&token).await.unwrap();
    }
    assert!(matches!(
        tollgate_core::testing::cached(&verifier, &token),
        Some(Ok(_))
    ));
    // The provider goes down; past TTL + stale window the source fails closed, and so must the
    // token it verified earlier (before the fix: accepted from the cache until its entry ended).
    server.set_status(500);
    tokio::time::sleep(Duration::from_millis(1700)).await;
    for _ in 0..3 {
        let result = verifier.verify(&token).await;
        assert!(
            matches!(result, Err(Error::KeySourceUnavailable(_))),
            "{result:?}"
        );
    }
    // Back up: accepted again.
    server.set_status(200);
    tokio::time::sleep(Duration::from_millis(150)).await;
    verifier.verify(&token).await.unwrap();
}

// Defect 7: extreme timing options are refused at build time or handled; nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_timing_options_never_panic() {
    let server = KeyServer::start(rsa_jwks(&["rsa"])).await;
    let huge = Duration::MAX;
    let refused = [
        JwksSource::builder(&server.url).ttl_bounds(Duration::from_secs(1), huge),
        JwksSource::builder(&server.url).fallback_ttl(huge),
        JwksSource::builder(&server.url).stale_if_error(huge),
        JwksSource::builder(&server.url).unknown_kid_cooldown(huge),
        JwksSource::builder(&server.url).retry_backoff(huge / 2, huge),
        JwksSource::builder(&server.url).timeout(huge),
        JwksSource::builder(&server.url).connect_timeout(huge),
    ];
    for builder in refused {
        assert!(builder.build().is_err());
    }
    // The largest accepted bounds with an absurd max-age: clamped, no overflow.
    server.set_cache_control("max-age=18446744073709551615");
    let source = JwksSource::builder(&server.url)
        .ttl_bounds(Duration::from_secs(1), MAX_TIMING_OPTION)
        .stale_if_error(MAX_TIMING_OPTION)
        .unknown_kid_cooldown(MAX_TIMING_OPTION)
        .retry_backoff(MAX_TIMING_OPTION, MAX_TIMING_OPTION)
        .build()
        .unwrap();
    let cache = TokenCacheConfig {
        max_ttl: Duration::MAX,
        ..TokenCacheConfig::default()
    };
    let verifier = Verifier::builder(policy().build().unwrap(), source, CryptoProvider::default())
        .token_cache(Some(cache))
        .build();
    let token = sign(Algorithm::RS256, &claims());
    for _ in 0..3 {
        verifier.verify(&token).await.unwrap();
    }
    let unknown = rs256("junk", &claims().to_string());
    assert!(verifier.verify(&unknown).await.is_err());
    assert!(verifier.verify(&unknown).await.is_err());
    // A leeway beyond the maximum is a configuration error, not an overflow.
    assert!(
        Validation::builder([Algorithm::RS256])
            .any_audience()
            .leeway(huge)
            .build()
            .is_err()
    );
}

// Defect 9: one junk kid no longer blocks a real rotation for the whole cooldown, and a flood
// of junk kids stays within the fetch bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_kid_delays_a_real_rotation_only_briefly() {
    let server = KeyServer::start(rsa_jwks(&["old"])).await;
    let source = JwksSource::builder(&server.url).build().unwrap();
    let verifier = Verifier::new(
        policy().build().unwrap(),
        source.clone(),
        CryptoProvider::default(),
    );
    verifier
        .verify(&rs256("old", &claims().to_string()))
        .await
        .unwrap();
    assert_eq!(server.hits(), 1);
    // One junk token: one refetch, then a short cooldown.
    let junk = rs256("junk-1", &claims().to_string());
    assert!(matches!(
        verifier.verify(&junk).await,
        Err(Error::UnknownKey { .. })
    ));
    assert_eq!(server.hits(), 2);
    // The provider rotates; the new key is refused during the cooldown only (2 s, not 30 s).
    server.set_body(&rsa_jwks(&["old", "new"]));
    let fresh = rs256("new", &claims().to_string());
    assert!(matches!(
        verifier.verify(&fresh).await,
        Err(Error::UnknownKey { .. })
    ));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    verifier.verify(&fresh).await.unwrap();
    assert_eq!(server.hits(), 3);

    // A flood of distinct junk kids for ~7 s: at most one refetch per (doubling) cooldown.
    let before = server.hits();
    let started = std::time::Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(7) {
        i += 1;
        let junk = rs256(&format!("flood-{i}"), &claims().to_string());
        assert!(verifier.verify(&junk).await.is_err());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fetched = server.hits() - before;
    // Cooldowns 2 s, 4 s (doubling): at most 3 refetches in 7 s, whatever the flood's size.
    assert!(
        (1..=3).contains(&fetched),
        "{fetched} fetches for {i} junk kids"
    );
}
