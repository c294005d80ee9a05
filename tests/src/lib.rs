//! Test support shared by every test suite and bench of the workspace (`publish = false`).
//!
//! - The root: fixed test keys, one per algorithm family, signed with the workspace's one test
//!   signer ([`tollgate_core::testing::SigningKey`], on aws-lc-rs, never the code under test),
//!   with full control over header and payload bytes so malformed tokens can be made; their
//!   JWK Set, claims that pass [`policy`], and verifiers over them.
//! - [`server`]: loopback HTTP servers for key sources (JWKS, discovery, certificate maps, any
//!   document) with injected faults, counting their requests.
//! - [`issuers`]: issuers with keys of their own, each serving its JWK Set on loopback, and a
//!   `MultiIssuer` over them.
//! - [`client`]: a plain-HTTP client answering status, challenge and body, for apps on loopback.
//! - [`oidc_provider`]: panva's `oidc-provider` (Node.js) on loopback, for the interop suites.
//! - [`redis`]: a real `redis-server` per test, and a bare client for the test's own commands.
//! - [`attack`]: the JWT attack kit of the two attack suites (`crates/tollgate/tests/attacks.rs`
//!   through `AuthLayer`, `crates/tollgate-cli/tests/attacks.rs` through `tollgate serve`).
//!
//! Suites name it `support`, as they did when they shared these files by `#[path]`:
//!
//! ```
//! use tollgate_test_support as support;
//! use tollgate_core::Algorithm;
//!
//! let token = support::sign(Algorithm::ES256, &support::claims());
//! let verifier = support::default_verifier();
//! assert!(support::block_on(verifier.verify(&token)).is_ok());
//! let forged = support::tamper_signature(&token);
//! assert!(support::block_on(verifier.verify(&forged)).is_err());
//! ```
//!
//! Helpers panic on failure, as test code does: a failing helper is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![deny(missing_docs)]

pub mod attack;
pub mod client;
pub mod issuers;
pub mod oidc_provider;
pub mod redis;
pub mod server;
pub mod waiting;

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
pub use tollgate_core::testing::SigningKey;
use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, VerificationKey, Verifier};

/// The `iss` of [`claims`] and [`policy`].
pub const ISSUER: &str = "https://issuer.example.com";
/// The `aud` of [`claims`] and [`policy`].
pub const AUDIENCE: &str = "tollgate-tests";

/// The fixed test keys (generated once per test process), each with the kid [`kid_for`] gives.
#[derive(Debug)]
pub struct TestKeys {
    /// RSA 2048, kid `rsa`: signs every `RS*` and `PS*` algorithm.
    pub rsa: SigningKey,
    /// P-256, kid `ec256`.
    pub ec256: SigningKey,
    /// P-384, kid `ec384`.
    pub ec384: SigningKey,
    /// Ed25519, kid `ed`.
    pub ed: SigningKey,
    /// The HMAC secret (64 bytes), kid `hs`: signs every `HS*` algorithm.
    pub hmac: Vec<u8>,
    hs: SigningKey,
}

/// The test keys.
pub fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let generate = |alg, kid| SigningKey::generate(alg).unwrap().with_kid(kid);
        let hmac: Vec<u8> = (0u8..64)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        TestKeys {
            rsa: generate(Algorithm::RS256, "rsa"),
            ec256: generate(Algorithm::ES256, "ec256"),
            ec384: generate(Algorithm::ES384, "ec384"),
            ed: generate(Algorithm::EdDSA, "ed"),
            hs: SigningKey::hmac(&hmac).unwrap().with_kid("hs"),
            hmac,
        }
    })
}

/// The test key that signs `alg`, set to sign with `alg`.
pub fn signing_key(alg: Algorithm) -> SigningKey {
    let k = keys();
    let key = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => &k.hs,
        Algorithm::ES256 => &k.ec256,
        Algorithm::ES384 => &k.ec384,
        Algorithm::EdDSA => &k.ed,
        _ => &k.rsa,
    };
    key.for_algorithm(alg)
        .unwrap_or_else(|e| panic!("no test signer for {alg}: {e}"))
}

/// Unpadded base64url.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The kid each algorithm's key carries in [`key_set`].
pub fn kid_for(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => "hs",
        Algorithm::ES256 => "ec256",
        Algorithm::ES384 => "ec384",
        Algorithm::EdDSA => "ed",
        _ => "rsa",
    }
}

/// The RSA test key's modulus and public exponent.
pub fn rsa_components() -> (Vec<u8>, Vec<u8>) {
    keys().rsa.rsa_components().unwrap()
}

/// The `x` and `y` coordinates of an EC key.
pub fn ec_xy(key: &SigningKey) -> (Vec<u8>, Vec<u8>) {
    key.ec_coordinates()
        .unwrap_or_else(|| panic!("{key:?} is not an EC key"))
}

/// The public test keys as a JWK Set: `rsa` (no `alg`), `ec256` (`alg: ES256`), `ec384`, `ed`.
pub fn jwks_value() -> Value {
    let k = keys();
    let (n, e) = rsa_components();
    let (x256, y256) = ec_xy(&k.ec256);
    let (x384, y384) = ec_xy(&k.ec384);
    json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "use": "sig", "n": b64(&n), "e": b64(&e)},
        {"kty": "EC", "kid": "ec256", "crv": "P-256", "alg": "ES256", "x": b64(&x256), "y": b64(&y256)},
        {"kty": "EC", "kid": "ec384", "crv": "P-384", "x": b64(&x384), "y": b64(&y384)},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(k.ed.public_key_bytes().unwrap())},
    ]})
}

/// All test keys: the public JWKS plus the HMAC secret with kid `hs`.
pub fn key_set() -> KeySet {
    let mut set = KeySet::from_jwks(&jwks_value().to_string()).unwrap();
    set.push(VerificationKey::hmac(&keys().hmac).unwrap().with_kid("hs"));
    set
}

/// The signature of `message` by the test key of `alg`.
pub fn sign_bytes(alg: Algorithm, message: &[u8]) -> Vec<u8> {
    signing_key(alg).sign_bytes(message).unwrap()
}

/// Signs exact header and payload JSON text with the key for `alg`.
pub fn sign_raw(alg: Algorithm, header_json: &str, payload_json: &str) -> String {
    signing_key(alg)
        .sign_raw(header_json, payload_json)
        .unwrap()
}

/// Signs `claims` with a header `{"alg", "kid", "typ":"JWT"}`.
pub fn sign(alg: Algorithm, claims: &Value) -> String {
    let header = json!({"alg": alg.as_str(), "kid": kid_for(alg), "typ": "JWT"});
    sign_raw(alg, &header.to_string(), &claims.to_string())
}

/// This process's resident memory in bytes (Linux `/proc/self/statm`; 0 elsewhere): the memory
/// benches' measure of what a structure holds.
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims that pass [`policy`]: right iss/aud, valid now for ten minutes.
pub fn claims() -> Value {
    let now = now();
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1",
        "iat": now, "nbf": now, "exp": now + 600,
        "roles": ["user"], "scope": "read write"
    })
}

/// `claims()` with one member replaced (or removed when `value` is `None`).
pub fn claims_with(name: &str, value: Option<Value>) -> Value {
    let mut c = claims();
    let obj = c.as_object_mut().unwrap();
    match value {
        Some(v) => obj.insert(name.to_owned(), v),
        None => obj.remove(name),
    };
    c
}

/// Every algorithm, [`ISSUER`], [`AUDIENCE`].
pub fn policy() -> tollgate_core::ValidationBuilder {
    Validation::builder(Algorithm::ALL)
        .issuer(ISSUER)
        .audience(AUDIENCE)
}

/// A verifier over every test key with this policy.
pub fn verifier(validation: Validation) -> Verifier {
    Verifier::new(validation, key_set(), CryptoProvider::default())
}

/// A verifier over every test key with [`policy`].
pub fn default_verifier() -> Verifier {
    verifier(policy().build().unwrap())
}

/// [`default_verifier`] with this verified-token cache (`None`: off).
pub fn default_verifier_with_cache(cache: Option<tollgate_core::TokenCacheConfig>) -> Verifier {
    Verifier::builder(
        policy().build().unwrap(),
        key_set(),
        CryptoProvider::default(),
    )
    .token_cache(cache)
    .build()
}

/// `token` with one bit of its signature flipped.
pub fn tamper_signature(token: &str) -> String {
    let (rest, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[0] ^= 1;
    format!("{rest}.{}", b64(&bytes))
}

/// Byte strings that are not an RFC 6750 `b64token`, most of them a valid `token` with
/// something around it: what `TokenVerifier::start_presented` must answer `None` for, whether
/// or not `token` is cached.
pub fn not_b64tokens(token: &str) -> Vec<Vec<u8>> {
    let mut cases: Vec<Vec<u8>> = [
        format!("{token},"),
        format!("{token} "),
        format!(" {token}"),
        format!("{token}\u{e9}"),
        format!("{token}=x"),
        format!("{token},{token}"),
        String::new(),
        "==".into(),
        "a b".into(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    let mut not_utf8 = token.as_bytes().to_vec();
    not_utf8.push(0xff);
    cases.push(not_utf8);
    cases
}

/// Asserts that `verifier.start_presented` answers `None` for every one of [`not_b64tokens`]
/// around `token` (cached or not).
pub fn assert_no_answer_for_non_tokens(verifier: &impl tollgate_core::TokenVerifier, token: &str) {
    for bytes in not_b64tokens(token) {
        assert!(
            verifier.start_presented(&bytes).is_none(),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// Asserts that `verifier.start_presented` decides `token` at once, as `start` does, and
/// returns its refusal (`None`: verified).
pub fn presented_like_start(
    verifier: &impl tollgate_core::TokenVerifier,
    token: &str,
) -> Option<tollgate_core::Error> {
    let outcome = |verification: Option<tollgate_core::Verification>| {
        verification
            .and_then(|v| v.done())
            .expect("decided at once")
            .err()
    };
    let presented = outcome(verifier.start_presented(token.as_bytes()));
    assert_eq!(presented, outcome(Some(verifier.start(token))), "{token}");
    presented
}

/// Drives a future to completion on this thread. For benches: static key sources answer
/// synchronously, so one poll completes the verification.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_with_its_key() {
        let verifier = default_verifier();
        for alg in Algorithm::ALL {
            let token = sign(alg, &claims());
            block_on(verifier.verify(&token)).unwrap_or_else(|e| panic!("{alg}: {e}"));
            let tampered = tamper_signature(&token);
            assert!(block_on(verifier.verify(&tampered)).is_err(), "{alg}");
        }
    }

    #[test]
    fn raw_signing_keeps_the_exact_bytes() {
        let header = r#"{"alg":"ES256","kid":"ec256","kid":"ec256"}"#;
        let token = sign_raw(Algorithm::ES256, header, "{}");
        let first = token.split('.').next().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(first).unwrap(), header.as_bytes());
    }
}
