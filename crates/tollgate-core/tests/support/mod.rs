//! Test signer built directly on aws-lc-rs (not on the code under test), with full control
//! over the header and payload bytes so malformed tokens can be produced.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, VerificationKey, Verifier};

pub const ISSUER: &str = "https://issuer.example.com";
pub const AUDIENCE: &str = "tollgate-tests";

pub struct TestKeys {
    pub rsa: RsaKeyPair,
    pub ec256: EcdsaKeyPair,
    pub ec384: EcdsaKeyPair,
    pub ed: Ed25519KeyPair,
    pub hmac: Vec<u8>,
}

pub fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| TestKeys {
        rsa: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
        ec256: EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
        ec384: EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
        ed: Ed25519KeyPair::generate().unwrap(),
        hmac: (0u8..64)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect(),
    })
}

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

pub fn rsa_components() -> (Vec<u8>, Vec<u8>) {
    let c = RsaPublicKeyComponents::<Vec<u8>>::from(keys().rsa.public_key());
    (c.n, c.e)
}

pub fn ec_xy(pair: &EcdsaKeyPair) -> (Vec<u8>, Vec<u8>) {
    let point = pair.public_key().as_ref();
    let half = (point.len() - 1) / 2;
    (point[1..1 + half].to_vec(), point[1 + half..].to_vec())
}

pub fn jwks_value() -> Value {
    let k = keys();
    let (n, e) = rsa_components();
    let (x256, y256) = ec_xy(&k.ec256);
    let (x384, y384) = ec_xy(&k.ec384);
    json!({"keys": [
        {"kty": "RSA", "kid": "rsa", "use": "sig", "n": b64(&n), "e": b64(&e)},
        {"kty": "EC", "kid": "ec256", "crv": "P-256", "alg": "ES256", "x": b64(&x256), "y": b64(&y256)},
        {"kty": "EC", "kid": "ec384", "crv": "P-384", "x": b64(&x384), "y": b64(&y384)},
        {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(k.ed.public_key().as_ref())},
    ]})
}

/// All test keys: the public JWKS plus the HMAC secret with kid `hs`.
pub fn key_set() -> KeySet {
    let mut set = KeySet::from_jwks(&jwks_value().to_string()).unwrap();
    set.push(VerificationKey::hmac(&keys().hmac).unwrap().with_kid("hs"));
    set
}

pub fn sign_bytes(alg: Algorithm, message: &[u8]) -> Vec<u8> {
    let k = keys();
    let rng = SystemRandom::new();
    let rsa = |padding: &'static dyn sig::RsaEncoding| {
        let mut out = vec![0u8; k.rsa.public_modulus_len()];
        k.rsa.sign(padding, &rng, message, &mut out).unwrap();
        out
    };
    let hmac = |algorithm| {
        let key = aws_lc_rs::hmac::Key::new(algorithm, &k.hmac);
        aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
    };
    match alg {
        Algorithm::HS256 => hmac(aws_lc_rs::hmac::HMAC_SHA256),
        Algorithm::HS384 => hmac(aws_lc_rs::hmac::HMAC_SHA384),
        Algorithm::HS512 => hmac(aws_lc_rs::hmac::HMAC_SHA512),
        Algorithm::RS256 => rsa(&sig::RSA_PKCS1_SHA256),
        Algorithm::RS384 => rsa(&sig::RSA_PKCS1_SHA384),
        Algorithm::RS512 => rsa(&sig::RSA_PKCS1_SHA512),
        Algorithm::PS256 => rsa(&sig::RSA_PSS_SHA256),
        Algorithm::PS384 => rsa(&sig::RSA_PSS_SHA384),
        Algorithm::PS512 => rsa(&sig::RSA_PSS_SHA512),
        Algorithm::ES256 => k.ec256.sign(&rng, message).unwrap().as_ref().to_vec(),
        Algorithm::ES384 => k.ec384.sign(&rng, message).unwrap().as_ref().to_vec(),
        Algorithm::EdDSA => k.ed.sign(message).as_ref().to_vec(),
        other => panic!("no test signer for {other}"),
    }
}

/// Signs exact header and payload JSON text with the key for `alg`.
pub fn sign_raw(alg: Algorithm, header_json: &str, payload_json: &str) -> String {
    let input = format!(
        "{}.{}",
        b64(header_json.as_bytes()),
        b64(payload_json.as_bytes())
    );
    let signature = sign_bytes(alg, input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// Signs `claims` with a header `{"alg", "kid", "typ":"JWT"}`.
pub fn sign(alg: Algorithm, claims: &Value) -> String {
    let header = json!({"alg": alg.as_str(), "kid": kid_for(alg), "typ": "JWT"});
    sign_raw(alg, &header.to_string(), &claims.to_string())
}

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

pub fn policy() -> tollgate_core::ValidationBuilder {
    Validation::builder(Algorithm::ALL)
        .issuer(ISSUER)
        .audience(AUDIENCE)
}

pub fn verifier(validation: Validation) -> Verifier {
    Verifier::new(validation, key_set(), CryptoProvider::default())
}

pub fn default_verifier() -> Verifier {
    verifier(policy().build().unwrap())
}

/// `token` with one bit of its signature flipped.
pub fn tamper_signature(token: &str) -> String {
    let (rest, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[0] ^= 1;
    format!("{rest}.{}", b64(&bytes))
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
