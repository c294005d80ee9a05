//! The `Verifier`'s entry points (issue 13 item 4): `verify`, `verify_at` and `start` give one
//! result type, construction takes a shared key source as is, the cache is configured on the
//! builder, and checking a signature alone lives apart from the verifier.

use tollgate_test_support as support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::*;
use tollgate_core::signature::verify_signature;
use tollgate_core::{
    AccessClaims, Algorithm, ClaimPath, CryptoProvider, Error, KeySet, KeySource, StandardClaims,
    TokenVerifier, Verification, Verifier,
};

#[tokio::test]
async fn verify_verify_at_and_start_share_one_verified_token() {
    let verifier = default_verifier();
    let token = sign(Algorithm::ES256, &claims());
    let first = verifier.verify(&token).await.unwrap();
    // Admitted on the second sighting; from then on every entry point hands out that entry.
    let admitted = verifier.verify_at(&token, SystemTime::now()).await.unwrap();
    assert!(!first.ptr_eq(&admitted), "the first sighting is not cached");
    let Verification::Done(Ok(started)) = verifier.start(&token) else {
        panic!("a cached token is decided synchronously");
    };
    let again = verifier.verify(&token).await.unwrap();
    assert!(started.ptr_eq(&admitted) && again.ptr_eq(&admitted));
    // Typed claims are decoded once per token and type, whichever call asked first.
    let typed = admitted.claims::<StandardClaims>().unwrap();
    assert!(Arc::ptr_eq(
        &typed,
        &again.claims::<StandardClaims>().unwrap()
    ));
    assert_eq!(typed.registered.sub.as_deref(), started.subject());
    assert_eq!(typed.registered.exp, again.expires_at());
    assert_eq!(again.header().alg, Algorithm::ES256);
    // Through the trait, the same answer.
    let traited = TokenVerifier::verify(&verifier, &token).await.unwrap();
    assert!(traited.ptr_eq(&admitted));
}

#[tokio::test]
async fn verify_at_applies_the_time_rules_at_that_time() {
    let verifier = default_verifier();
    let exp = now() + 600;
    let token = sign(Algorithm::ES256, &claims_with("exp", Some(json!(exp))));
    let after = UNIX_EPOCH + Duration::from_secs((exp + 3600) as u64);
    let before = UNIX_EPOCH + Duration::from_secs((exp - 60) as u64);
    assert!(matches!(
        verifier.verify_at(&token, after).await,
        Err(Error::Expired { .. })
    ));
    let verified = verifier.verify_at(&token, before).await.unwrap();
    assert_eq!(verified.expires_at(), Some(exp));
}

#[tokio::test]
async fn a_wrong_claims_type_is_refused_by_claims_not_by_verify() {
    #[derive(Debug, serde::Deserialize)]
    struct NeedsTenant {
        #[allow(dead_code)]
        tenant: String,
    }
    let verifier = default_verifier();
    let verified = verifier
        .verify(&sign(Algorithm::ES256, &claims()))
        .await
        .unwrap();
    assert!(matches!(
        verified.claims::<NeedsTenant>(),
        Err(Error::ClaimsShape(_))
    ));
    // The other views are unaffected.
    assert!(verified.claims::<Value>().is_ok());
}

#[tokio::test]
async fn a_shared_key_source_is_used_as_is() {
    let shared: Arc<dyn KeySource> = Arc::new(key_set());
    let one = Verifier::new(
        policy().build().unwrap(),
        shared.clone(),
        CryptoProvider::default(),
    );
    let two = Verifier::builder(
        policy().build().unwrap(),
        shared.clone(),
        CryptoProvider::default(),
    )
    .build();
    assert!(Arc::ptr_eq(one.keys(), &shared), "not wrapped again");
    assert!(Arc::ptr_eq(two.keys(), &shared));
    let token = sign(Algorithm::EdDSA, &claims());
    one.verify(&token).await.unwrap();
    two.verify(&token).await.unwrap();
    // Any other key source (an `Arc<KeySet>` too) is put behind an `Arc` of its own.
    let typed = Arc::new(key_set());
    let three = Verifier::new(
        policy().build().unwrap(),
        typed.clone(),
        CryptoProvider::default(),
    );
    three.verify(&token).await.unwrap();
}

#[tokio::test]
async fn the_builder_configures_cache_and_access_claims() {
    let off = Verifier::builder(
        policy().build().unwrap(),
        key_set(),
        CryptoProvider::default(),
    )
    .token_cache(None)
    .access_claims(AccessClaims::default().roles_at([ClaimPath::new("groups").unwrap()]))
    .build();
    assert!(off.token_cache_stats().is_none());
    let token = sign(
        Algorithm::ES256,
        &claims_with("groups", Some(json!(["admins"]))),
    );
    for _ in 0..2 {
        let verified = off.verify(&token).await.unwrap();
        assert_eq!(verified.roles(), ["admins"]);
        assert!(tollgate_core::testing::cached(&off, &token).is_none());
    }
    let on = default_verifier();
    assert_eq!(on.token_cache_stats().unwrap().misses, 0);
}

#[tokio::test]
async fn verify_signature_checks_the_signature_only_and_leaves_the_cache_alone() {
    let verifier = default_verifier();
    // Expired long ago and for another audience: refused by `verify`...
    let stale = sign(
        Algorithm::RS256,
        &json!({"iss": ISSUER, "aud": "someone-else", "exp": 1}),
    );
    assert!(verifier.verify(&stale).await.is_err());
    // ...but its signature is good, which is all `verify_signature` says.
    let jws = verify_signature(&verifier, &stale).await.unwrap();
    assert_eq!(jws.header.alg, Algorithm::RS256);
    assert_eq!(
        serde_json::from_slice::<Value>(&jws.payload).unwrap()["aud"],
        "someone-else"
    );
    // Not counted, not cached, even on repeated calls.
    let before = verifier.token_cache_stats().unwrap();
    let fresh = sign(Algorithm::RS256, &claims());
    for _ in 0..3 {
        verify_signature(&verifier, &fresh).await.unwrap();
    }
    let after = verifier.token_cache_stats().unwrap();
    assert_eq!((after.hits, after.misses), (before.hits, before.misses));
    assert!(tollgate_core::testing::cached(&verifier, &fresh).is_none());
    // The header and the signature are still checked.
    assert!(matches!(
        verify_signature(&verifier, &tamper_signature(&fresh)).await,
        Err(Error::InvalidSignature)
    ));
    let empty = Verifier::new(
        policy().build().unwrap(),
        KeySet::default(),
        CryptoProvider::default(),
    );
    assert!(verify_signature(&empty, &fresh).await.is_err());
}
