//! Shared fixtures of the fuzz targets: keys, a signer for HS256 tokens, a `block_on` for
//! futures that never wait (every key source here is a static `KeySet`).
//!
//! The keys are the committed PyJWT fixtures of `tollgate-core`'s tests (public keys and the
//! test HMAC secret), so the seed tokens of the corpora verify against them.

use std::future::Future;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tollgate_core::{Algorithm, CryptoProvider, KeySet, Validation, VerificationKey, Verifier};

/// Inputs larger than this are ignored by every target (tokens are capped at 64 KiB anyway).
pub const MAX_INPUT: usize = 64 * 1024;

/// The issuer of the fixture tokens.
pub const ISSUER: &str = "https://issuer.example.com";
/// The audience of the fixture tokens.
pub const AUDIENCE: &str = "tollgate-tests";
/// The `kid` of the HMAC fixture key.
pub const HMAC_KID: &str = "hmac-1";
/// Where a seed asks for the valid token: `{TOKEN}` is replaced by [`valid_token`].
pub const TOKEN_PLACEHOLDER: &str = "{TOKEN}";
/// The `sub` of [`valid_token`].
pub const VALID_SUB: &str = "fuzz-user";

const PYJWT: &str = "../crates/tollgate-core/tests/fixtures/pyjwt";
/// The PyJWT fixture JWK Set (RSA 2048, P-256, P-384, Ed25519, plus entries to skip).
pub const FIXTURE_JWKS: &str =
    include_str!("../../crates/tollgate-core/tests/fixtures/pyjwt/jwks.json");
const HMAC_SECRET_B64U: &str =
    include_str!("../../crates/tollgate-core/tests/fixtures/pyjwt/hmac.secret.b64u");

/// The PyJWT fixture HMAC secret (64 bytes).
pub static HMAC_SECRET: LazyLock<Vec<u8>> = LazyLock::new(|| {
    URL_SAFE_NO_PAD
        .decode(HMAC_SECRET_B64U.trim())
        .unwrap_or_else(|e| panic!("{PYJWT}/hmac.secret.b64u: {e}"))
});

/// base64url without padding, as JWS segments are written.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature` with an HS256 signature over the two encoded segments, keyed with
/// [`HMAC_SECRET`].
pub fn sign_hs256(header_json: &[u8], payload: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64url(header_json), b64url(payload));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &HMAC_SECRET);
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64url(tag.as_ref()))
}

/// The HMAC fixture key (`kid` `hmac-1`).
pub fn hmac_key() -> VerificationKey {
    VerificationKey::hmac(HMAC_SECRET.as_slice())
        .unwrap_or_else(|e| panic!("HMAC fixture key: {e}"))
        .with_kid(HMAC_KID)
}

/// A policy for [`ISSUER`] and [`AUDIENCE`] allowing `algorithms`.
pub fn strict_policy(algorithms: impl IntoIterator<Item = Algorithm>) -> Validation {
    Validation::builder(algorithms)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .unwrap_or_else(|e| panic!("fixture policy: {e}"))
}

/// A verifier of HS256 tokens signed with [`HMAC_SECRET`], for [`ISSUER`] and [`AUDIENCE`],
/// without the verified-token cache (so each input is verified in full). Checked to accept
/// [`valid_token`], so the targets' success paths stay reachable.
pub fn hs256_verifier() -> Verifier {
    let verifier = Verifier::builder(
        strict_policy([Algorithm::HS256]),
        KeySet::from(hmac_key()),
        CryptoProvider::default(),
    )
    .token_cache(None)
    .build();
    if let Err(err) = block_on(verifier.verify(valid_token())) {
        panic!("fixture self-test: the HS256 verifier refuses the valid token: {err:?}");
    }
    verifier
}

/// The PyJWT fixture public keys (from [`FIXTURE_JWKS`]): RSA 2048, P-256, P-384, Ed25519.
pub fn fixture_public_keys() -> KeySet {
    KeySet::from_jwks(FIXTURE_JWKS).unwrap_or_else(|e| panic!("{PYJWT}/jwks.json: {e}"))
}

const FIXTURE_TOKENS: &str =
    include_str!("../../crates/tollgate-core/tests/fixtures/pyjwt/tokens.json");

/// The PyJWT fixture tokens whose `expect` is `valid` and whose key is one of
/// [`fixture_public_keys`], as `(name, token)`.
pub fn valid_fixture_tokens() -> Vec<(String, String)> {
    let tokens: Vec<serde_json::Value> =
        serde_json::from_str(FIXTURE_TOKENS).unwrap_or_else(|e| panic!("{PYJWT}/tokens.json: {e}"));
    tokens
        .iter()
        .filter(|t| t["expect"] == "valid" && t["key"] != "hmac")
        .filter_map(|t| {
            Some((
                t["name"].as_str()?.to_owned(),
                t["token"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Panics unless `verifier` accepts every valid PyJWT fixture token signed with a public key
/// (so a target whose seeds are those tokens really reaches its success path).
pub fn self_test_fixture_tokens(verifier: &Verifier) {
    let tokens = valid_fixture_tokens();
    assert!(
        !tokens.is_empty(),
        "fixture self-test: no valid fixture tokens"
    );
    for (name, token) in tokens {
        if let Err(err) = block_on(verifier.verify(&token)) {
            panic!("fixture self-test: {name} refused: {err:?}");
        }
    }
}

/// An HS256 token that [`hs256_verifier`] accepts: `sub` [`VALID_SUB`], roles, scopes, an email,
/// Keycloak-style realm roles, `exp` in 2100.
pub static VALID_TOKEN: LazyLock<String> = LazyLock::new(|| {
    let header = br#"{"alg":"HS256","kid":"hmac-1","typ":"JWT"}"#;
    let payload = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"{VALID_SUB}","iat":1700000000,"exp":4102444800,"roles":["admin","user"],"scope":"read:items write:items","email":"fuzz@example.com","realm_access":{{"roles":["realm-admin"]}}}}"#
    );
    sign_hs256(header, payload.as_bytes())
});

/// [`VALID_TOKEN`].
pub fn valid_token() -> &'static str {
    &VALID_TOKEN
}

/// Replaces every [`TOKEN_PLACEHOLDER`] by [`valid_token`]; `true` when there was one.
pub fn substitute_token(text: &str) -> (String, bool) {
    if text.contains(TOKEN_PLACEHOLDER) {
        (text.replace(TOKEN_PLACEHOLDER, valid_token()), true)
    } else {
        (text.to_owned(), false)
    }
}

/// Runs a future that must complete without waiting: every key source of the targets is a
/// static `KeySet`, so a verification that stays pending is itself a finding.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1024 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("a future over static keys is still pending after 1024 polls");
}

/// Whether a JSON text is an object with at least one member, judged by its first two
/// significant characters (the targets only ask this of payloads the verifier accepted, which
/// are JSON objects).
pub fn has_members(json: &[u8]) -> bool {
    let mut significant = json
        .iter()
        .copied()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    significant.next() == Some(b'{') && !matches!(significant.next(), Some(b'}') | None)
}
