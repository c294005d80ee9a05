//! Helpers for `providers.rs`: a loopback identity-provider server that serves any document at
//! any path (with the headers a provider sends: the shared `Loopback`), key documents in each
//! provider's layout, and RS256 tokens signed with the workspace's test signer (aws-lc-rs, never
//! the code under test).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use support::SigningKey;
/// A loopback HTTP server answering GETs from a path -> document table; 404 elsewhere.
pub(crate) use support::server::Loopback as Idp;
use tollgate_core::{Algorithm, Error, VerifiedToken, Verifier};

use crate::support::{self, b64};

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// A second RSA key, distinct from the support signer's: Cognito's ID-token key, Keycloak's
/// encryption key.
pub(crate) fn second_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(Algorithm::RS256).unwrap())
}

fn components(key: &SigningKey) -> (String, String) {
    let (n, e) = key.rsa_components().unwrap();
    (b64(&n), b64(&e))
}

/// The support signer's RSA key as a JWK with `kid` and any `extra` members.
pub(crate) fn rsa_jwk(kid: &str, extra: &Value) -> Value {
    jwk_of(&support::keys().rsa, kid, extra)
}

/// The second key as a JWK.
pub(crate) fn second_jwk(kid: &str, extra: &Value) -> Value {
    jwk_of(second_key(), kid, extra)
}

fn jwk_of(key: &SigningKey, kid: &str, extra: &Value) -> Value {
    let (n, e) = components(key);
    let mut jwk = json!({"kty": "RSA", "kid": kid, "n": n, "e": e});
    merge_into(&mut jwk, extra);
    jwk
}

/// A self-signed X.509 certificate for `key`, built with rcgen from the key's PKCS#8:
/// (PEM, DER).
fn certificate_of(key: &SigningKey, name: &str) -> (String, Vec<u8>) {
    let key_pair = rcgen::KeyPair::from_pem(&key.to_pkcs8_pem().unwrap()).unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .self_signed(&key_pair)
        .unwrap();
    (cert.pem(), cert.der().to_vec())
}

/// The support signer's RSA key in a self-signed certificate: (PEM, DER).
pub(crate) fn certificate() -> &'static (String, Vec<u8>) {
    static CERT: OnceLock<(String, Vec<u8>)> = OnceLock::new();
    CERT.get_or_init(|| {
        certificate_of(
            &support::keys().rsa,
            "securetoken.system.gserviceaccount.com",
        )
    })
}

/// The second key in a self-signed certificate: (PEM, DER).
pub(crate) fn second_certificate() -> &'static (String, Vec<u8>) {
    static CERT: OnceLock<(String, Vec<u8>)> = OnceLock::new();
    CERT.get_or_init(|| certificate_of(second_key(), "securetoken.system.gserviceaccount.com"))
}

/// A certificate's `x5t` (base64url SHA-1 of the DER) and `x5c` entry (standard base64 DER).
pub(crate) fn x5t_x5c(der: &[u8]) -> (String, String) {
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    (b64(sha1.as_ref()), STANDARD.encode(der))
}

/// A certificate's `x5t#S256` (base64url SHA-256 of the DER).
pub(crate) fn x5t_s256(der: &[u8]) -> String {
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref())
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// RS256 with the support signer's key, header `{"alg":"RS256","kid":kid,"typ":"JWT"}`.
pub(crate) fn token(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
    support::sign_raw(Algorithm::RS256, &header.to_string(), &claims.to_string())
}

/// RS256 with the support signer's key and exactly this header.
pub(crate) fn token_with_header(header: &Value, claims: &Value) -> String {
    support::sign_raw(Algorithm::RS256, &header.to_string(), &claims.to_string())
}

/// RS256 with the second key, header `{"alg":"RS256","kid":kid,"typ":"JWT"}`.
pub(crate) fn token_second_key(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
    second_key()
        .sign_raw(&header.to_string(), &claims.to_string())
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Claims
// ---------------------------------------------------------------------------------------------

/// Shallow merge: members of `changes` replace those of `target`; a `null` removes the member.
fn merge_into(target: &mut Value, changes: &Value) {
    let target = target.as_object_mut().unwrap();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            target.remove(name);
        } else {
            target.insert(name.clone(), value.clone());
        }
    }
}

/// `base` with `changes` merged in (a `null` removes the member).
pub(crate) fn with(base: &Value, changes: Value) -> Value {
    let mut out = base.clone();
    merge_into(&mut out, &changes);
    out
}

// ---------------------------------------------------------------------------------------------
// Verifying
// ---------------------------------------------------------------------------------------------

/// Verifies and expects success.
#[track_caller]
pub(crate) fn accepted(result: Result<VerifiedToken, Error>, what: &str) -> VerifiedToken {
    match result {
        Ok(token) => token,
        Err(err) => panic!("{what}: expected acceptance, got {err:?}"),
    }
}

/// Verifies and expects a refusal.
#[track_caller]
pub(crate) fn refused(result: Result<VerifiedToken, Error>, what: &str) -> Error {
    match result {
        Ok(token) => panic!(
            "{what}: expected refusal, accepted {:?}",
            token.claims_json()
        ),
        Err(err) => err,
    }
}

pub(crate) async fn accept(verifier: &Verifier, token: &str, what: &str) -> VerifiedToken {
    accepted(verifier.verify(token).await, what)
}

pub(crate) async fn refuse(verifier: &Verifier, token: &str, what: &str) -> Error {
    refused(verifier.verify(token).await, what)
}

/// `InvalidClaim` naming `claim`.
#[track_caller]
pub(crate) fn assert_invalid(err: &Error, claim: &str) {
    assert!(
        matches!(err, Error::InvalidClaim { claim: c, .. } if c == claim),
        "expected InvalidClaim {{ claim: {claim:?} }}, got {err:?}"
    );
}

/// `MissingClaim(claim)`.
#[track_caller]
pub(crate) fn assert_missing(err: &Error, claim: &str) {
    assert!(
        matches!(err, Error::MissingClaim(c) if c == claim),
        "expected MissingClaim({claim:?}), got {err:?}"
    );
}

/// `WrongIssuer` with `actual`.
#[track_caller]
pub(crate) fn assert_wrong_issuer(err: &Error, actual: &str) {
    assert!(
        matches!(err, Error::WrongIssuer { actual: a, .. } if a == actual),
        "expected WrongIssuer {{ actual: {actual:?} }}, got {err:?}"
    );
}

#[track_caller]
pub(crate) fn assert_wrong_audience(err: &Error) {
    assert!(
        matches!(err, Error::WrongAudience { .. }),
        "expected WrongAudience, got {err:?}"
    );
}
