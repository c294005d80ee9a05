//! Key loading rules: typed keys, minimum strengths, lenient JWK Sets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_test_support as support;

use serde_json::json;
use support::*;
use tollgate_core::{Algorithm, KeyError, KeyFamily, KeyMismatch, KeySet, VerificationKey};

#[test]
fn hmac_secrets_at_least_the_hash_size() {
    assert_eq!(
        VerificationKey::hmac([1u8; 31]).err(),
        Some(KeyError::SecretTooShort { len: 31, min: 32 })
    );
    assert_eq!(
        VerificationKey::hmac(b"").err(),
        Some(KeyError::SecretTooShort { len: 0, min: 32 })
    );
    let key = VerificationKey::hmac([1u8; 32]).unwrap();
    assert!(key.permits(Algorithm::HS256).is_ok());
    assert_eq!(
        key.permits(Algorithm::HS512),
        Err(KeyMismatch::SecretTooShort {
            len: 32,
            needed: 64
        })
    );
    assert!(
        VerificationKey::hmac([1u8; 64])
            .unwrap()
            .permits(Algorithm::HS512)
            .is_ok()
    );
}

#[test]
fn rsa_keys_at_least_2048_bits_with_sane_exponent() {
    let (n, e) = rsa_components();
    assert!(VerificationKey::rsa_from_components(&n, &e).is_ok());
    assert_eq!(
        VerificationKey::rsa_from_components(&n[..128], &e).err(),
        Some(KeyError::RsaTooSmall {
            bits: 1024,
            min: 2048
        })
    );
    for bad_e in [&[1u8][..], &[2], &[], &[1, 0, 0, 0, 1]] {
        assert!(
            VerificationKey::rsa_from_components(&n, bad_e).is_err(),
            "e={bad_e:?}"
        );
    }
    let mut even = n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    assert!(VerificationKey::rsa_from_components(&even, &e).is_err());
}

#[test]
fn keys_are_typed_and_never_cross_families() {
    let (n, e) = rsa_components();
    let rsa = VerificationKey::rsa_from_components(&n, &e).unwrap();
    assert_eq!(rsa.family(), KeyFamily::Rsa);
    for alg in [Algorithm::HS256, Algorithm::ES256, Algorithm::EdDSA] {
        assert!(rsa.permits(alg).is_err(), "{alg}");
    }
    for alg in [Algorithm::RS256, Algorithm::RS512, Algorithm::PS256] {
        assert!(rsa.permits(alg).is_ok(), "{alg}");
    }
    assert!(rsa.clone().with_algorithm(Algorithm::ES256).is_err());
    let (x, y) = ec_xy(&keys().ec256);
    assert!(
        VerificationKey::ec_from_coordinates(KeyFamily::EcP384, &x, &y).is_err(),
        "P-256 point as P-384"
    );
    assert!(VerificationKey::ec_from_coordinates(KeyFamily::EcP256, &[0; 32], &[0; 32]).is_err());
    assert!(VerificationKey::ed25519(&[0u8; 31]).is_err());
}

#[test]
fn key_material_never_in_debug_output() {
    let key = VerificationKey::hmac(b"super-secret-value-that-must-not-leak!!")
        .unwrap()
        .with_kid("k");
    let debug = format!("{key:?}");
    assert!(!debug.contains("super-secret"), "{debug}");
    assert!(debug.contains("\"k\""));
}

#[test]
fn jwks_parsing_is_lenient_per_key() {
    let mut jwks = jwks_value();
    let (n, e) = rsa_components();
    let keys = jwks["keys"].as_array_mut().unwrap();
    keys.push(json!({"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": b64(&n), "e": b64(&e)}));
    keys.push(
        json!({"kty": "RSA", "kid": "ops", "key_ops": ["encrypt"], "n": b64(&n), "e": b64(&e)}),
    );
    keys.push(json!({"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AA", "y": "AA"}));
    keys.push(json!({"kty": "oct", "kid": "secret", "k": b64(&[1; 32])}));
    keys.push(json!({"kty": "unknown", "kid": "weird"}));
    keys.push(json!({"kty": "RSA", "kid": "small", "n": b64(&n[..128]), "e": b64(&e)}));
    keys.push(json!({"kty": "RSA", "kid": "badb64", "n": "!!!", "e": "AQAB"}));
    keys.push(json!({"kty": "EC", "kid": "mismatch", "crv": "P-256", "alg": "RS256", "x": "AA", "y": "AA"}));
    keys.push(json!("not an object"));
    let set = KeySet::from_jwks(&jwks.to_string()).unwrap();
    assert_eq!(set.len(), 4, "only the four signature keys remain");
    for skipped in [
        "enc", "ops", "p521", "secret", "weird", "small", "badb64", "mismatch",
    ] {
        assert!(!set.contains_kid(skipped), "{skipped}");
    }
    // Secrets are admitted only on request, and never mixed with public keys in one set.
    assert!(matches!(
        KeySet::from_jwks_with_secrets(&jwks.to_string()),
        Err(KeyError::Invalid(_))
    ));
    let secrets =
        json!({"keys": [{"kty": "oct", "kid": "secret", "k": b64(&[1; 32])}]}).to_string();
    assert!(
        KeySet::from_jwks_with_secrets(&secrets)
            .unwrap()
            .contains_kid("secret")
    );
}

#[test]
fn duplicate_kids_in_a_jwks_are_dropped_as_ambiguous() {
    let mut jwks = jwks_value();
    let keys = jwks["keys"].as_array_mut().unwrap();
    // A malformed twin still makes "rsa" ambiguous: which one did the issuer mean?
    keys.push(json!({"kty": "RSA", "kid": "rsa", "n": "!!", "e": "AQAB"}));
    let set = KeySet::from_jwks(&jwks.to_string()).unwrap();
    assert!(!set.contains_kid("rsa"));
    assert!(set.contains_kid("ec256"));
}

#[test]
fn jwks_document_errors() {
    assert_eq!(
        KeySet::from_jwks(r#"{"keys":[]}"#).err(),
        Some(KeyError::NoUsableKeys)
    );
    assert_eq!(
        KeySet::from_jwks(r#"{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}"#).err(),
        Some(KeyError::NoUsableKeys)
    );
    for bad in ["", "not json", "[]", r#"{"keys":{}}"#, r#"{"other":[]}"#] {
        assert!(
            matches!(KeySet::from_jwks(bad), Err(KeyError::Invalid(_))),
            "{bad:?}"
        );
    }
    // A single JWK is accepted where a set is expected.
    let single = jwks_value()["keys"][0].to_string();
    assert_eq!(KeySet::from_jwks(&single).unwrap().len(), 1);
}

#[test]
fn single_jwk_errors_are_specific() {
    assert!(matches!(
        VerificationKey::from_jwk(r#"{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}"#),
        Err(KeyError::Unusable(_))
    ));
    assert!(matches!(
        VerificationKey::from_jwk(r#"{"kty":"EC","crv":"P-256"}"#),
        Err(KeyError::Invalid(_))
    ));
    let oct = json!({"kty": "oct", "k": b64(&[3; 48]), "alg": "HS384", "kid": "h"}).to_string();
    let key = VerificationKey::from_jwk(&oct).unwrap();
    assert_eq!(
        (key.kid(), key.algorithm()),
        (Some("h"), Some(Algorithm::HS384))
    );
}

#[test]
fn pem_errors_never_echo_input() {
    let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
    let err = VerificationKey::from_pem(private).unwrap_err().to_string();
    assert!(err.contains("private key"), "{err}");
    assert!(!err.contains("MC4CAQAw"), "{err}");
    assert!(
        VerificationKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
            .is_err()
    );
    assert!(VerificationKey::from_der(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
    assert!(matches!(
        VerificationKey::from_file("/nonexistent/key.pem"),
        Err(KeyError::Io { .. })
    ));
}
