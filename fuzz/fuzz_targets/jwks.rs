//! The JWK Set parser: `KeySet::from_jwks`, `from_jwks_with_secrets`, `parse_lenient` (what the
//! remote JWKS source runs on a fetched document) and the single-JWK parser
//! `VerificationKey::from_jwk`.
//!
//! Asserted: the strict and lenient parses agree on the keys; no set holds more than
//! `MAX_KEYS_PER_SET` keys, a symmetric key without `from_jwks_with_secrets`/`allow_symmetric`,
//! a mix of secrets and public keys, or two signature keys under one `kid`; every key permits exactly the algorithms of its
//! family (and of its `alg`, when pinned).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::{Algorithm, KeyFamily, KeySet, MAX_KEYS_PER_SET, VerificationKey};
use tollgate_fuzz::MAX_INPUT;

fn check_key(key: &VerificationKey) {
    let family = key.family();
    for alg in Algorithm::ALL {
        let permitted = key.permits(alg).is_ok();
        if permitted {
            assert_eq!(
                alg.key_family(),
                family,
                "{key:?} permits {alg:?} of another family"
            );
            if let Some(pinned) = key.algorithm() {
                assert_eq!(alg, pinned, "{key:?} pinned to {pinned:?} permits {alg:?}");
            }
        }
    }
    if let Some(pinned) = key.algorithm() {
        assert!(key.permits(pinned).is_ok(), "{key:?} refuses its own alg");
    }
}

fn check_set(set: &KeySet, symmetric_allowed: bool) {
    assert!(set.len() <= MAX_KEYS_PER_SET, "{} keys", set.len());
    assert_eq!(set.iter().count(), set.len());
    let secrets = set.iter().filter(|k| k.family() == KeyFamily::Hmac).count();
    assert!(
        secrets == 0 || secrets == set.len(),
        "a set mixes secrets and public keys"
    );
    let mut kids = Vec::new();
    for key in set.iter() {
        check_key(key);
        if !symmetric_allowed {
            assert_ne!(
                key.family(),
                KeyFamily::Hmac,
                "a public set holds a secret: {key:?}"
            );
        }
        if let Some(kid) = key.kid() {
            assert!(set.contains_kid(kid));
            assert!(!kids.contains(&kid), "kid {kid:?} on two keys");
            kids.push(kid);
        }
    }
}

fn same_keys(a: &KeySet, b: &KeySet) -> bool {
    a.len() == b.len()
        && a.iter().zip(b.iter()).all(|(x, y)| {
            x.kid() == y.kid() && x.family() == y.family() && x.algorithm() == y.algorithm()
        })
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    for symmetric in [false, true] {
        let lenient = KeySet::parse_lenient(text, symmetric);
        let strict = if symmetric {
            KeySet::from_jwks_with_secrets(text)
        } else {
            KeySet::from_jwks(text)
        };
        match (&lenient, &strict) {
            (Ok(lenient), Ok(strict)) => {
                assert!(!strict.is_empty(), "from_jwks returned an empty set");
                assert!(
                    same_keys(lenient, strict),
                    "strict and lenient parses differ"
                );
                check_set(strict, symmetric);
            }
            (Ok(lenient), Err(err)) => {
                assert!(
                    lenient.is_empty(),
                    "strict parse refused ({err}) a set with keys"
                );
            }
            (Err(_), Ok(_)) => panic!("strict parse accepted what the lenient one refused"),
            (Err(_), Err(_)) => {}
        }
        if let Ok(lenient) = &lenient {
            check_set(lenient, symmetric);
        }
    }

    if let Ok(key) = VerificationKey::from_jwk(text) {
        check_key(&key);
    }
});
